"""A DynamicCache subclass that other modules reach only through ``from .caches import *``."""

from transformers import DynamicCache


class PrefixCache(DynamicCache):
    def first_key(self):
        return self.key_cache[0]  # expect: PCC003


__all__ = ["PrefixCache"]
