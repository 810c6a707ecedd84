import WhatsAppProtocol

/// Noise transport throughput and handshake rate, so changes to the cipher path show up in numbers.
enum NoiseBenchmark {
    /// Roughly how long each measurement runs.
    static let targetSeconds = 0.5

    /// Encrypt and decrypt MB/s for 1 KiB and 64 KiB frame bodies, then full handshakes per second.
    static func run() -> [BenchmarkLine] {
        var lines: [BenchmarkLine] = []
        for size in [1024, 64 * 1024] {
            lines.append(encryptThroughput(frameSize: size))
            lines.append(decryptThroughput(frameSize: size))
        }
        lines.append(handshakeRate())
        return lines
    }

    /// Frames per timed batch, so a batch takes a few milliseconds and the clock is read rarely.
    private static func batchSize(frameSize: Int) -> Int { max(16, (1 << 20) / frameSize) }

    private static func encryptThroughput(frameSize: Int) -> BenchmarkLine {
        let name = "noise transport encrypt \(frameSize / 1024) KiB"
        do {
            var (client, _) = try transportPair()
            let plaintext = [UInt8](repeating: 0x5A, count: frameSize)
            let batch = batchSize(frameSize: frameSize)
            var seconds = 0.0
            var bytes = 0
            while seconds < targetSeconds {
                seconds += try Stopwatch.time {
                    for _ in 0..<batch { _ = try client.encrypt(plaintext) }
                }
                bytes += batch * frameSize
            }
            return BenchmarkLine(name: name, value: Double(bytes) / seconds / 1e6, unit: "MB/s")
        } catch {
            return failed(name, error)
        }
    }

    private static func decryptThroughput(frameSize: Int) -> BenchmarkLine {
        let name = "noise transport decrypt \(frameSize / 1024) KiB"
        do {
            var (client, server) = try transportPair()
            let plaintext = [UInt8](repeating: 0x5A, count: frameSize)
            let batch = batchSize(frameSize: frameSize)
            var seconds = 0.0
            var bytes = 0
            while seconds < targetSeconds {
                // Frames must be read in counter order, so each batch is sealed (untimed) just before.
                let frames = try (0..<batch).map { _ in try client.encrypt(plaintext) }
                seconds += try Stopwatch.time {
                    for frame in frames { _ = try server.decrypt(frame) }
                }
                bytes += batch * frameSize
            }
            return BenchmarkLine(name: name, value: Double(bytes) / seconds / 1e6, unit: "MB/s")
        } catch {
            return failed(name, error)
        }
    }

    /// Client and server state machines talking in memory, fresh ephemeral keys each time, through
    /// `split()` on both sides. Payload sizes are about those of a real CertChain and ClientPayload.
    private static func handshakeRate() -> BenchmarkLine {
        let name = "noise handshake client+server"
        let clientStatic = KeyPair.generate()
        let serverStatic = KeyPair.generate()
        let certChain = [UInt8](repeating: 0x11, count: 350)
        let clientPayload = [UInt8](repeating: 0x22, count: 250)
        do {
            var seconds = 0.0
            var count = 0
            while seconds < targetSeconds {
                seconds += try Stopwatch.time {
                    for _ in 0..<20 {
                        _ = try handshake(
                            clientStatic: clientStatic, serverStatic: serverStatic,
                            certChain: certChain, clientPayload: clientPayload)
                    }
                }
                count += 20
            }
            return BenchmarkLine(name: name, value: Double(count) / seconds, unit: "handshakes/s")
        } catch {
            return failed(name, error)
        }
    }

    private static func handshake(
        clientStatic: KeyPair, serverStatic: KeyPair, certChain: [UInt8], clientPayload: [UInt8]
    ) throws(NoiseError) -> (client: NoiseTransport, server: NoiseTransport) {
        var client = NoiseHandshake(staticKey: clientStatic, ephemeralKey: KeyPair.generate())
        var server = NoiseServerHandshake(staticKey: serverStatic, ephemeralKey: KeyPair.generate())
        try server.readClientHello(ephemeral: client.makeClientHello())
        _ = try client.readServerHello(server.makeServerHello(payload: certChain))
        _ = try server.readClientFinish(client.makeClientFinish(payload: clientPayload))
        return (try client.split(), try server.split())
    }

    private static func transportPair() throws(NoiseError) -> (client: NoiseTransport, server: NoiseTransport) {
        try handshake(clientStatic: KeyPair.generate(), serverStatic: KeyPair.generate(), certChain: [], clientPayload: [])
    }

    /// A line that says the measurement could not run (a zero, never a made-up number).
    private static func failed(_ name: String, _ error: any Error) -> BenchmarkLine {
        BenchmarkLine(name: "\(name) FAILED (\(error))", value: 0, unit: "")
    }
}
