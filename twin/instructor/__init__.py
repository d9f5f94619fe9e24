"""The instructor's side: what the world really did set beside what the IDMS believed."""
