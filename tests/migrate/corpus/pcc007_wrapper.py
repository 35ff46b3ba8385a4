"""PCC007 on a cache wrapper that defines ``get_max_cache_shape`` itself and forwards it to the
transformers cache it holds (peft's ShadowCache does this): the forwarded call is a finding, the
wrapper's own call of its method is not."""

from transformers import DynamicCache


class PairedCache(DynamicCache):
    """Delegates the length API to the base cache it wraps."""

    def __init__(self, base):
        super().__init__()
        self.base = base

    def get_max_cache_shape(self, layer_idx=0):
        return self.base.get_max_cache_shape(layer_idx)  # expect: PCC007

    def limit(self):
        return self.get_max_cache_shape()


def run():
    return PairedCache(DynamicCache()).limit()
