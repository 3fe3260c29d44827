import ctypes

from nativepools import Pool, version

print("nativepools", version())
with Pool.preset("small") as pool:            # 264-byte blocks in native memory
    block = pool.alloc()                       # the block's address, an int
    ctypes.memmove(block, b"hello from Python", 17)
    print(ctypes.string_at(block, 17).decode())
    pool.free(block)

    blocks = pool.alloc_batch(100)             # 100 blocks in one library call
    pool.free_batch(blocks)

    stats = pool.stats()
    print(f"allocations={stats.allocations} in_use={stats.in_use} "
          f"capacity={stats.capacity} reuse_rate={stats.reuse_rate:.2f}")
