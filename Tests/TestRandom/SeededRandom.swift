/// SplitMix64: a tiny seeded generator for property and fuzz tests, so every failure reproduces
/// from its seed. Plus the byte-level helpers those tests share.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &self) }
    }

    /// Cuts `bytes` into pieces of random length (including empty pieces).
    public mutating func chunks(of bytes: [UInt8], maxChunk: Int) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var index = 0
        while index < bytes.count {
            let end = min(bytes.count, index + Int.random(in: 0...maxChunk, using: &self))
            out.append(Array(bytes[index..<end]))
            index = end
        }
        return out
    }

    /// `seed` with one to four random edits: bit flips, byte overwrites (often with varint-continuation
    /// or length-like values), insertions, deletions, truncation and duplicated slices.
    public mutating func mutate(_ seed: [UInt8]) -> [UInt8] {
        var out = seed
        for _ in 0..<Int.random(in: 1...4, using: &self) {
            let position = out.isEmpty ? 0 : Int.random(in: 0..<out.count, using: &self)
            switch Int.random(in: 0..<7, using: &self) {
            case 0 where !out.isEmpty:
                out[position] ^= 1 << UInt8.random(in: 0..<8, using: &self)
            case 1 where !out.isEmpty:
                out[position] = [0x00, 0x01, 0x7F, 0x80, 0xFF, 0x0A, 0x12, 0x40].randomElement(using: &self)!
            case 2:
                out.insert(contentsOf: bytes(Int.random(in: 1...8, using: &self)), at: position)
            case 3 where !out.isEmpty:
                let end = min(out.count, position + Int.random(in: 1...16, using: &self))
                out.removeSubrange(position..<end)
            case 4:
                out = Array(out.prefix(position))
            case 5 where !out.isEmpty:
                let end = min(out.count, position + Int.random(in: 1...32, using: &self))
                out.insert(contentsOf: out[position..<end], at: Int.random(in: 0...out.count, using: &self))
            default:
                if !out.isEmpty { out[position] = UInt8.random(in: .min ... .max, using: &self) }
            }
        }
        return out
    }
}
