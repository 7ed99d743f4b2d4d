"""A small thread-safe LRU for immutable values, shared by the template service (compiled
versions behind substitute) and the consumers' template client (compiled versions they render)."""

import threading
from collections import OrderedDict
from collections.abc import Callable


class LocalLRU:
    """Bounded by ``maxsize`` entries; ``get`` refreshes an entry (gthread workers share one process)."""

    def __init__(self, maxsize: int):
        self.maxsize = max(1, maxsize)
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key, value) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def discard_where(self, predicate: Callable[[object], bool]) -> int:
        """Drop the entries whose value matches; return how many."""
        with self._lock:
            keys = [key for key, value in self._data.items() if predicate(value)]
            for key in keys:
                del self._data[key]
            return len(keys)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)
