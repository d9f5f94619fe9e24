"""The trainee console: the IDMS's own dispatcher screen, drawn with pygame.

It reads only the IDMS (:class:`~twin.idms.console.desk.Desk` wraps it), never the
world's ground truth. ``scene`` and ``view`` hold geometry; ``raster`` the numpy line
drawing; ``mapview``, ``panels`` and ``app`` the screen itself.
"""
