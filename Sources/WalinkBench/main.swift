print("walink-bench")
