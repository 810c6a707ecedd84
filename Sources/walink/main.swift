print("walink")
