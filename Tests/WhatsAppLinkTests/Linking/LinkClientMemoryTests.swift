import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization
import Testing
import WhatsAppLink
import WhatsAppProtocol

/// Resident memory of many idle sessions waiting for a scan. Runs only with `WALINK_MEMORY_TEST=<sessions>`
/// (it opens that many sockets); the in-test server lives in the same process, so the figure is an upper
/// bound for the client side.
@Suite struct LinkClientMemoryTests {
    static let sessions = Int(ProcessInfo.processInfo.environment["WALINK_MEMORY_TEST"] ?? "") ?? 0
    /// `WALINK_MEMORY_TLS=1` measures `wss://` sessions (TLS on both sides).
    static let tls = ProcessInfo.processInfo.environment["WALINK_MEMORY_TLS"] != nil

    static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        return (Int(fields[1]) ?? 0) * 4096
    }

    @Test(.enabled(if: sessions > 0))
    func idleSessionsStayUnderBudget() async throws {
        let server = TestNoiseServer()
        let count = Self.sessions
        let ready = AsyncStream.makeStream(of: Void.self)
        let refs = (1...6).map { "2@memory-ref-\($0)-ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789" }
        let caFile = try TestWebSocketServer.writeCAFile()
        defer { try? FileManager.default.removeItem(atPath: caFile) }
        try await TestWebSocketServer.with(tls: Self.tls, script: { socket in
            var session = try await server.accept(socket)
            try await session.send(TestPrimary(seed: 1).pairDevice(refs: refs))
            try? await session.waitForClose()
        }) { port, _ in
            let configuration = LinkConfiguration(
                url: URL(string: "\(Self.tls ? "wss" : "ws")://127.0.0.1:\(port)/ws/chat")!, extraCAFile: caFile,
                rootPublicKey: server.rootKey.publicKey)
            let credentials = (0..<count).map { _ in DeviceCredentials.generate() }
            let before = Self.residentBytes()
            var clients: [LinkClient] = []
            await withTaskGroup(of: Void.self) { group in
                for index in 0..<count {
                    let client = LinkClient(
                        credentials: credentials[index], configuration: configuration,
                        eventLoopGroup: MultiThreadedEventLoopGroup.singleton, logger: Logger(label: "memory"))
                    clients.append(client)
                    group.addTask {
                        await client.run { event in
                            if case .qr(_, 1, _) = event { ready.continuation.yield() }
                        }
                    }
                }
                var seen = 0
                for await _ in ready.stream {
                    seen += 1
                    if seen == count { break }
                }
                let after = Self.residentBytes()
                let perSession = (after - before) / count
                print("memory: \(count) sessions\(Self.tls ? " over TLS" : ""), \(perSession / 1024) KiB per session (client and server side)")
                #expect(perSession < 200 * 1024)
                for client in clients { client.cancel() }
            }
        }
    }
}
