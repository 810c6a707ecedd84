import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import Testing
import WhatsAppLink
import WhatsAppProtocol

@Suite struct WhatsAppConnectionTests {
    let logger = Logger(label: "test.connection")
    let group = MultiThreadedEventLoopGroup.singleton
    let noiseKey = KeyPair.generate()
    let payload: [UInt8] = Array("client-payload".utf8)

    func configuration(port: Int, root: KeyPair, scheme: String = "ws") -> WhatsAppConnectionConfiguration {
        WhatsAppConnectionConfiguration(
            url: URL(string: "\(scheme)://127.0.0.1:\(port)/ws/chat")!, userAgent: "walink-test",
            rootPublicKey: root.publicKey, connectTimeout: .seconds(30), handshakeTimeout: .seconds(30),
            closeTimeout: .milliseconds(300))
    }

    func connect(
        port: Int, root: KeyPair, scheme: String = "ws", extraCAFile: String? = nil
    )
        async throws(WhatsAppConnectionError) -> WhatsAppConnection
    {
        var config = configuration(port: port, root: root, scheme: scheme)
        config.extraCAFile = extraCAFile
        return try await WhatsAppConnection.connect(
            configuration: config, noiseKey: noiseKey, payload: payload, eventLoopGroup: group, logger: logger)
    }

    @Test func handshakeWithTheRightRootThenStanzasBothWays() async throws {
        let server = TestNoiseServer()
        let seen = Mutex<(payload: [UInt8], key: [UInt8], node: BinaryNode?)>(([], [], nil))
        let ping = BinaryNode("iq", ["id": "1", "to": .jid(.serverJID), "type": "get", "xmlns": "w:p"])
        try await TestWebSocketServer.with(script: { socket in
            var session = try await server.accept(socket)
            let received = try await session.receive()
            seen.withLock { $0 = (session.clientPayload, session.clientStaticKey, received) }
            // Two frames in one message, then one frame cut across two messages.
            let bodies = try session.sealed([
                BinaryNode("success", ["t": "1"]), BinaryNode("iq", ["id": "1", "type": "result"]),
                BinaryNode("ib", [:], [BinaryNode("offline", ["count": "0"])]),
            ])
            let wire = try session.framed(bodies)
            let firstTwo = try session.framed([bodies[0], bodies[1]]).count
            try await session.sendRaw(Array(wire[..<firstTwo]))
            try await session.sendRaw(Array(wire[firstTwo..<(firstTwo + 5)]))
            try await session.sendRaw(Array(wire[(firstTwo + 5)...]))
            try await session.waitForClose()
        }) { port, recorder in
            let connection = try await connect(port: port, root: server.rootKey)
            #expect(connection.serverStaticKey == server.staticKey.publicKey)
            try await connection.send(ping)
            var received: [BinaryNode] = []
            for try await node in connection.nodes {
                received.append(node)
                if received.count == 3 { break }
            }
            #expect(received.map(\.tag) == ["success", "iq", "ib"])
            #expect(received[2].child(named: "offline")?["count"] == "0")
            await connection.close()

            let head = try #require(recorder.requests.first)
            #expect(head.headers["Origin"] == ["https://web.whatsapp.com"])
            #expect(head.headers["Cache-Control"] == ["no-cache"])
            #expect(head.headers["Pragma"] == ["no-cache"])
            #expect(head.headers["User-Agent"] == ["walink-test"])
        }
        let (clientPayload, clientKey, node) = seen.withLock { $0 }
        #expect(clientPayload == payload)
        #expect(clientKey == noiseKey.publicKey)
        #expect(node == ping)
    }

    @Test func concurrentSendsArriveInNonceOrder() async throws {
        let server = TestNoiseServer()
        let count = Mutex(0)
        try await TestWebSocketServer.with(script: { socket in
            var session = try await server.accept(socket)
            // Each frame must decrypt with the next nonce; a reordering would fail decryption here.
            while let node = try await session.receive() {
                #expect(node.tag == "iq")
                count.withLock { $0 += 1 }
            }
        }) { port, _ in
            let connection = try await connect(port: port, root: server.rootKey)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for task in 0..<8 {
                    group.addTask {
                        for index in 0..<25 {
                            try await connection.send(BinaryNode("iq", ["id": .string("\(task)-\(index)")]))
                        }
                    }
                }
                try await group.waitForAll()
            }
            await connection.close()
        }
        #expect(count.withLock { $0 } == 200)
    }

    @Test func tlsConnectionWithTheSimulatorStyleCA() async throws {
        let server = TestNoiseServer()
        let caFile = try TestWebSocketServer.writeCAFile()
        defer { try? FileManager.default.removeItem(atPath: caFile) }
        try await TestWebSocketServer.with(
            tls: true,
            script: { socket in
                var session = try await server.accept(socket)
                try await session.send(BinaryNode("success"))
                try await session.waitForClose()
            }
        ) { port, _ in
            let connection = try await connect(port: port, root: server.rootKey, scheme: "wss", extraCAFile: caFile)
            var nodes = connection.nodes.makeAsyncIterator()
            #expect(try await nodes.next()?.tag == "success")
            await connection.close()
        }
    }

    @Test func wrongRootKeyIsACertificateError() async throws {
        let server = TestNoiseServer()
        try await TestWebSocketServer.with(script: { socket in
            _ = try? await server.accept(socket)
        }) { port, _ in
            let error = await #expect(throws: WhatsAppConnectionError.self) {
                _ = try await connect(port: port, root: KeyPair.generate())
            }
            #expect(error?.code == .certificateInvalid)
            #expect(error?.certificateError?.code == .intermediateSignatureInvalid)
        }
    }

    @Test func realWhatsAppRootRefusesATestServer() async throws {
        let server = TestNoiseServer()
        try await TestWebSocketServer.with(script: { socket in
            _ = try? await server.accept(socket)
        }) { port, _ in
            var config = configuration(port: port, root: server.rootKey)
            config.rootPublicKey = ServerCertificateVerifier.whatsAppRootPublicKey
            let error = await #expect(throws: WhatsAppConnectionError.self) {
                _ = try await WhatsAppConnection.connect(
                    configuration: config, noiseKey: noiseKey, payload: payload, eventLoopGroup: group, logger: logger)
            }
            #expect(error?.certificateError?.code == .intermediateSignatureInvalid)
        }
    }

    @Test func chainForAnotherStaticKeyIsRefused() async throws {
        let server = TestNoiseServer()
        try await TestWebSocketServer.with(script: { socket in
            _ = try? await server.accept(socket, chain: try server.certificateChain(certifying: KeyPair.generate().publicKey))
        }) { port, _ in
            let error = await #expect(throws: WhatsAppConnectionError.self) {
                _ = try await connect(port: port, root: server.rootKey)
            }
            #expect(error?.certificateError?.code == .leafKeyMismatch)
        }
    }

    @Test func invalidRootKeyLengthIsRefusedBeforeConnecting() async throws {
        var config = configuration(port: 9, root: .generate())
        config.rootPublicKey = [1, 2, 3]
        let error = await #expect(throws: WhatsAppConnectionError.self) {
            _ = try await WhatsAppConnection.connect(
                configuration: config, noiseKey: noiseKey, payload: payload, eventLoopGroup: group, logger: logger)
        }
        #expect(error?.certificateError?.code == .invalidRootKey)
    }

    static let zeroKeyHello: [UInt8] = {
        let ephemeral: [UInt8] = [0x0A, 0x20] + [UInt8](repeating: 0, count: 32)
        let encryptedStatic: [UInt8] = [0x12, 0x30] + [UInt8](repeating: 0, count: 48)
        let body: [UInt8] = [0x12, 0x58] + ephemeral + encryptedStatic + [0x1A, 0x02, 0x00, 0x00]
        return [0x00, 0x00, 0x5A] + body
    }()

    static let garbage: [(String, [UInt8])] = [
        ("garbage frame", [0x00, 0x00, 0x04, 0xDE, 0xAD, 0xBE, 0xEF]),
        ("empty frame", [0x00, 0x00, 0x00]),
        ("oversized declared length", [UInt8](repeating: 0xFF, count: 40)),
        ("protobuf junk", [0x00, 0x00, 0x05, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]),
        ("server hello of zeros", zeroKeyHello),
    ]

    @Test(arguments: garbage)
    func garbageInsteadOfServerHelloIsAHandshakeError(name: String, bytes: [UInt8]) async throws {
        try await TestWebSocketServer.with(script: { socket in
            var session = ServerSession(socket: socket)
            _ = try await session.nextFrame()
            try await session.sendRaw(bytes)
            try await session.waitForClose()
        }) { port, _ in
            var config = configuration(port: port, root: .generate())
            config.handshakeTimeout = .seconds(120)  // only reached on a failure; generous for a loaded machine
            config.maximumFrameLength = 1 << 16
            let error = await #expect(throws: WhatsAppConnectionError.self) {
                _ = try await WhatsAppConnection.connect(
                    configuration: config, noiseKey: noiseKey, payload: payload, eventLoopGroup: group, logger: logger)
            }
            // A declared length of 0xFFFFFF is larger than allowed, zeros are not a valid key: all clean errors.
            #expect(error?.code == .handshakeFailed, "\(name): \(String(describing: error))")
        }
    }

    @Test func silentServerTimesOutTheHandshake() async throws {
        try await TestWebSocketServer.with(script: { socket in
            var session = ServerSession(socket: socket)
            try await session.waitForClose()
        }) { port, _ in
            var config = configuration(port: port, root: .generate())
            config.handshakeTimeout = .milliseconds(200)
            let error = await #expect(throws: WhatsAppConnectionError.self) {
                _ = try await WhatsAppConnection.connect(
                    configuration: config, noiseKey: noiseKey, payload: payload, eventLoopGroup: group, logger: logger)
            }
            #expect(error?.code == .handshakeTimeout)
        }
    }

    @Test func serverClosingBeforeHelloIsConnectionClosed() async throws {
        try await TestWebSocketServer.with(script: { socket in
            try await socket.sendClose()
        }) { port, _ in
            let error = await #expect(throws: WhatsAppConnectionError.self) {
                _ = try await connect(port: port, root: .generate())
            }
            #expect(error?.code == .connectionClosed)
        }
    }

    @Test func nothingListeningIsConnectFailed() async throws {
        // Port 1 on loopback: nothing listens there. (Binding and releasing an ephemeral port races
        // with the parallel tests, which may be handed the same port.)
        let port = 1
        let error = await #expect(throws: WhatsAppConnectionError.self) {
            _ = try await connect(port: port, root: .generate())
        }
        #expect(error?.code == .connectFailed)
        #expect(error?.webSocketError?.code == .connectFailed)
    }

    @Test func undecryptableFrameAfterHandshakeEndsTheStream() async throws {
        let server = TestNoiseServer()
        try await TestWebSocketServer.with(script: { socket in
            var session = try await server.accept(socket)
            try await session.send(BinaryNode("success"))
            try await session.sendFrame(Array(repeating: 0x42, count: 40))
            try await session.waitForClose()
        }) { port, _ in
            let connection = try await connect(port: port, root: server.rootKey)
            var nodes = connection.nodes.makeAsyncIterator()
            #expect(try await nodes.next()?.tag == "success")
            let error = await #expect(throws: WhatsAppConnectionError.self) { _ = try await nodes.next() }
            #expect(error?.code == .decryptionFailed)
            // Final: the next read fails the same way and the socket is gone.
            let again = await #expect(throws: WhatsAppConnectionError.self) { _ = try await nodes.next() }
            #expect(again?.code == .decryptionFailed)
            await connection.close()
            #expect(!connection.isActive)
        }
    }

    @Test func nonXMLPlaintextIsMalformedFrame() async throws {
        let server = TestNoiseServer()
        try await TestWebSocketServer.with(script: { socket in
            var session = try await server.accept(socket)
            guard var transport = session.transport else { return }
            try await session.sendFrame(try transport.encrypt([0x00, 0xF8, 0x7F]))
            session.transport = transport
            try await session.waitForClose()
        }) { port, _ in
            let connection = try await connect(port: port, root: server.rootKey)
            var nodes = connection.nodes.makeAsyncIterator()
            let error = await #expect(throws: WhatsAppConnectionError.self) { _ = try await nodes.next() }
            #expect(error?.code == .malformedFrame)
            await connection.close()
        }
    }

    @Test func serverCloseEndsTheNodeStreamCleanly() async throws {
        let server = TestNoiseServer()
        try await TestWebSocketServer.with(script: { socket in
            var session = try await server.accept(socket)
            try await session.send(BinaryNode("stream:error", ["code": "515"]))
            try await socket.sendClose()
        }) { port, _ in
            let connection = try await connect(port: port, root: server.rootKey)
            var tags: [String] = []
            for try await node in connection.nodes { tags.append(node.tag) }
            #expect(tags == ["stream:error"])
            await connection.close()
            let error = await #expect(throws: WhatsAppConnectionError.self) {
                try await connection.send(BinaryNode("iq"))
            }
            #expect(error?.code == .connectionClosed)
        }
    }
}
