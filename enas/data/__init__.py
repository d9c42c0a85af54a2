"""Data on the device: CIFAR-10 (embedded subset, torchvision and npz layouts), your images, Penn Treebank."""
from .cifar10 import CIFAR10_MEAN, CIFAR10_STD, check_labels, load_cifar10, search_split
from .image_folder import USER_SOURCES, channel_stats, image_size, load_image_folder, load_user_images, resized
from .loader import Augment, ImageLoader
from .ptb import batchify, load_ptb

__all__ = ["CIFAR10_MEAN", "CIFAR10_STD", "check_labels", "load_cifar10", "search_split", "USER_SOURCES",
           "channel_stats", "image_size", "resized", "load_image_folder", "load_user_images", "Augment", "ImageLoader",
           "batchify", "load_ptb"]
