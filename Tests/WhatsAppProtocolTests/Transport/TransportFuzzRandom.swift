/// SplitMix64: a tiny seeded generator so the transport fuzz tests reproduce.
struct TransportFuzzRandom: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func bytes(_ count: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count + 8)
        while out.count < count {
            withUnsafeBytes(of: next()) { out.append(contentsOf: $0) }
        }
        return Array(out.prefix(count))
    }

    /// Cuts `bytes` into pieces of random length (including empty pieces).
    mutating func chunks(of bytes: [UInt8], maxChunk: Int) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var index = 0
        while index < bytes.count {
            let length = Int.random(in: 0...maxChunk, using: &self)
            let end = min(bytes.count, index + length)
            out.append(Array(bytes[index..<end]))
            index = end
        }
        return out
    }
}
