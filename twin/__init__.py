"""Twin: a digital twin of an electric distribution utility and a dispatcher training simulator."""

__version__ = "0.1.0"
