// Entry point; subcommands are wired here as the benchmarks land.
print("walink-bench")
