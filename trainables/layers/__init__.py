"""Custom activation layers; importing this package registers them for .keras loading."""

from trainables.layers.antirectifier import Antirectifier
from trainables.layers.aprelu import APReLU
from trainables.layers.prelu import ChannelPReLU

__all__ = ["APReLU", "Antirectifier", "ChannelPReLU"]
