import WhatsAppProtocol

/// Where the linking state machine draws its random bytes (pairing codes, ephemeral keys, salts, adv secrets,
/// signature nonces, prekeys, iq ids). Production uses the system CSPRNG; tests inject a seeded source so
/// runs are reproducible.
protocol LinkRandom: Sendable {
    func bytes(_ count: Int) -> [UInt8]
}

/// The system's cryptographically secure generator.
struct SystemLinkRandom: LinkRandom {
    func bytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }
}

extension LinkRandom {
    /// A Curve25519 key pair from 32 random bytes, clamped as X25519 does.
    func keyPair() -> KeyPair {
        var bytes = self.bytes(32)
        bytes[0] &= 248
        bytes[31] &= 127
        bytes[31] |= 64
        // A 32-byte private key is always accepted.
        return try! KeyPair(privateKey: bytes)
    }

    /// A value in `range`, at millisecond resolution.
    func duration(in range: ClosedRange<Duration>) -> Duration {
        let span = range.upperBound - range.lowerBound
        guard span > .zero else { return range.lowerBound }
        let bytes = self.bytes(4)
        let fraction = Double(bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }) / Double(UInt32.max)
        return range.lowerBound + span * fraction
    }
}
