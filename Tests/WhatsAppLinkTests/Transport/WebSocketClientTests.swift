import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import Synchronization
import Testing
import WhatsAppLink

@Suite struct WebSocketClientTests {
    let logger = Logger(label: "test.websocket")
    let group = MultiThreadedEventLoopGroup.singleton

    func configuration(port: Int, scheme: String = "ws", host: String = "127.0.0.1") -> WebSocketClientConfiguration {
        WebSocketClientConfiguration(
            url: URL(string: "\(scheme)://\(host):\(port)/ws/chat")!, connectTimeout: .seconds(30),
            closeTimeout: .milliseconds(500))
    }

    /// Echoes binary messages (and answers a close) until the client goes.
    static let echo: TestWebSocketServer.Script = { socket in
        for try await frame in socket.frames() {
            switch frame.opcode {
            case .binary: try await socket.send(frame.data)
            case .connectionClose:
                try await socket.sendClose()
                return
            default: break
            }
        }
    }

    @Test func echoesBinaryMessagesInOrderWithMaskedFramesAndHeaders() async throws {
        try await TestWebSocketServer.with(script: Self.echo) { port, recorder in
            var config = configuration(port: port)
            config.headers.add(name: "Origin", value: "https://web.whatsapp.com")
            let connection = try await WebSocketClient.connect(configuration: config, eventLoopGroup: group, logger: logger)
            var received: [[UInt8]] = []
            var iterator = connection.messages.makeAsyncIterator()
            for message: [UInt8] in [[1, 2, 3], [], Array(repeating: 0xAB, count: 70_000)] {
                try await connection.send(message)
                received.append(try #require(try await iterator.next()))
            }
            #expect(received == [[1, 2, 3], [], Array(repeating: 0xAB, count: 70_000)])
            await connection.close()
            #expect(!connection.isActive)

            let head = try #require(recorder.requests.first)
            #expect(head.uri == "/ws/chat")
            #expect(head.headers["Origin"] == ["https://web.whatsapp.com"])
            #expect(head.headers["Host"] == ["127.0.0.1:\(port)"])
        }
    }

    @Test func clientFramesAreMasked() async throws {
        let masked = Mutex<[Bool]>([])
        try await TestWebSocketServer.with(script: { socket in
            for try await frame in socket.frames() {
                masked.withLock { $0.append(frame.wasMasked) }
                if frame.opcode == .connectionClose { return }
            }
        }) { port, _ in
            let connection = try await WebSocketClient.connect(
                configuration: configuration(port: port), eventLoopGroup: group, logger: logger)
            try await connection.send([9, 9])
            await connection.close()
        }
        #expect(masked.withLock { $0 } == [true, true])
    }

    @Test func textIsDroppedFragmentsAreJoinedPingsAreAnswered() async throws {
        let pong = Mutex<[UInt8]?>(nil)
        try await TestWebSocketServer.with(script: { socket in
            try await socket.sendText("ignored")
            try await socket.send([1, 2], fin: false)
            try await socket.send([3], fin: false, opcode: .continuation)
            try await socket.send([4], fin: true, opcode: .continuation)
            try await socket.sendPing([7, 7, 7])
            for try await frame in socket.frames() where frame.opcode == .pong {
                pong.withLock { $0 = frame.data }
                try await socket.send([5])
                try await socket.sendClose()
            }
        }) { port, _ in
            let connection = try await WebSocketClient.connect(
                configuration: configuration(port: port), eventLoopGroup: group, logger: logger)
            var messages: [[UInt8]] = []
            for try await message in connection.messages { messages.append(message) }
            #expect(messages == [[1, 2, 3, 4], [5]])
            #expect(await connection.peerCloseCode == 1000)
            await connection.close()
        }
        #expect(pong.withLock { $0 } == [7, 7, 7])
    }

    @Test func serverCloseEndsTheStreamAndIsAnswered() async throws {
        let answer = Mutex<ServerSocket.Received?>(nil)
        try await TestWebSocketServer.with(script: { socket in
            try await socket.send([1])
            try await socket.sendClose(code: .init(codeNumber: 4000))
            for try await frame in socket.frames() where frame.opcode == .connectionClose {
                answer.withLock { $0 = frame }
                return
            }
        }) { port, _ in
            let connection = try await WebSocketClient.connect(
                configuration: configuration(port: port), eventLoopGroup: group, logger: logger)
            var messages: [[UInt8]] = []
            for try await message in connection.messages { messages.append(message) }
            #expect(messages == [[1]])
            #expect(await connection.peerCloseCode == 4000)
            await connection.close()
            await #expect(throws: WebSocketError.self) { try await connection.send([2]) }
        }
        // The client echoed the status code in its own close frame.
        #expect(answer.withLock { $0?.data } == [0x0F, 0xA0])
    }

    @Test(.timeLimit(.minutes(1))) func closeSendsCloseFrameAndStopsSending() async throws {
        let closeCode = Mutex<[UInt8]?>(nil)
        try await TestWebSocketServer.with(script: { socket in
            for try await frame in socket.frames() where frame.opcode == .connectionClose {
                closeCode.withLock { $0 = frame.data }
                try await socket.sendClose()
                return
            }
        }) { port, _ in
            // A close timeout far beyond the test's time limit: close returns only because the server
            // answered the close frame.
            var slowClose = configuration(port: port)
            slowClose.closeTimeout = .seconds(3600)
            let connection = try await WebSocketClient.connect(configuration: slowClose, eventLoopGroup: group, logger: logger)
            await connection.close()
            await connection.close()
            let error = await #expect(throws: WebSocketError.self) { try await connection.send([1]) }
            #expect(error?.code == .connectionClosed)
            var iterator = connection.messages.makeAsyncIterator()
            #expect(try await iterator.next() == nil)
        }
        #expect(closeCode.withLock { $0 } == [0x03, 0xE8])
    }

    @Test func closeGivesUpWaitingForASilentPeer() async throws {
        try await TestWebSocketServer.with(script: { socket in
            for try await _ in socket.frames() {}
        }) { port, _ in
            let connection = try await WebSocketClient.connect(
                configuration: configuration(port: port), eventLoopGroup: group, logger: logger)
            await connection.close()
            #expect(!connection.isActive)
        }
    }

    @Test func oversizedMessageFailsTheStream() async throws {
        try await TestWebSocketServer.with(script: { socket in
            try await socket.send(Array(repeating: 1, count: 2048))
            for try await _ in socket.frames() {}
        }) { port, _ in
            var config = configuration(port: port)
            config.maximumMessageSize = 1024
            let connection = try await WebSocketClient.connect(configuration: config, eventLoopGroup: group, logger: logger)
            var iterator = connection.messages.makeAsyncIterator()
            let error = await #expect(throws: WebSocketError.self) { _ = try await iterator.next() }
            #expect(error?.code == .messageTooLarge)
            await connection.close()
        }
    }

    @Test func oversizedFragmentedMessageFailsTheStream() async throws {
        try await TestWebSocketServer.with(script: { socket in
            try await socket.send(Array(repeating: 1, count: 800), fin: false)
            try await socket.send(Array(repeating: 1, count: 800), fin: true, opcode: .continuation)
            for try await _ in socket.frames() {}
        }) { port, _ in
            var config = configuration(port: port)
            config.maximumMessageSize = 1024
            let connection = try await WebSocketClient.connect(configuration: config, eventLoopGroup: group, logger: logger)
            var iterator = connection.messages.makeAsyncIterator()
            let error = await #expect(throws: WebSocketError.self) { _ = try await iterator.next() }
            #expect(error?.code == .messageTooLarge)
        }
    }

    @Test func refusedUpgradeIsReported() async throws {
        try await TestWebSocketServer.with(refuseUpgrade: true, script: { _ in }) { port, _ in
            let error = await #expect(throws: WebSocketError.self) {
                _ = try await WebSocketClient.connect(
                    configuration: configuration(port: port), eventLoopGroup: group, logger: logger)
            }
            #expect(error?.code == .upgradeRejected)
        }
    }

    @Test func refusedConnectionIsReported() async throws {
        // Port 1 on loopback: nothing listens there. (Binding and releasing an ephemeral port races
        // with the parallel tests, which may be handed the same port.)
        let port = 1
        let error = await #expect(throws: WebSocketError.self) {
            _ = try await WebSocketClient.connect(
                configuration: configuration(port: port), eventLoopGroup: group, logger: logger)
        }
        #expect(error?.code == .connectFailed)
    }

    @Test func silentServerTimesOut() async throws {
        // Accepts TCP connections and never answers the upgrade request.
        let channel = try await ServerBootstrap(group: group)
            .childChannelInitializer { $0.eventLoop.makeSucceededVoidFuture() }
            .bind(host: "127.0.0.1", port: 0).get()
        defer { channel.close(promise: nil) }
        var config = configuration(port: channel.localAddress!.port!)
        config.connectTimeout = .milliseconds(200)
        let error = await #expect(throws: WebSocketError.self) {
            _ = try await WebSocketClient.connect(configuration: config, eventLoopGroup: group, logger: logger)
        }
        #expect(error?.code == .timeout)
    }

    @Test func invalidURLsAreRefused() async throws {
        for text in ["http://example.com/ws", "ws:///nohost"] {
            let config = WebSocketClientConfiguration(url: URL(string: text)!)
            let error = await #expect(throws: WebSocketError.self) {
                _ = try await WebSocketClient.connect(configuration: config, eventLoopGroup: group, logger: logger)
            }
            #expect(error?.code == .invalidURL)
        }
    }

    @Test func tlsWithExtraCAWorksForIPAndHostName() async throws {
        let caFile = try TestWebSocketServer.writeCAFile()
        defer { try? FileManager.default.removeItem(atPath: caFile) }
        try await TestWebSocketServer.with(tls: true, script: Self.echo) { port, _ in
            for host in ["127.0.0.1", "localhost"] {
                var config = configuration(port: port, scheme: "wss", host: host)
                config.extraCAFile = caFile
                let connection = try await WebSocketClient.connect(
                    configuration: config, eventLoopGroup: group, logger: logger)
                try await connection.send([4, 2])
                var iterator = connection.messages.makeAsyncIterator()
                #expect(try await iterator.next() == [4, 2])
                await connection.close()
            }
        }
    }

    @Test func tlsWithoutTheCAIsRefused() async throws {
        try await TestWebSocketServer.with(tls: true, script: Self.echo) { port, _ in
            let error = await #expect(throws: WebSocketError.self) {
                _ = try await WebSocketClient.connect(
                    configuration: configuration(port: port, scheme: "wss"), eventLoopGroup: group, logger: logger)
            }
            #expect(error?.code == .tlsFailure)
        }
    }

    @Test func missingCAFileIsAConfigurationError() async throws {
        var config = configuration(port: 1, scheme: "wss")
        config.extraCAFile = "/nonexistent/walink-ca.pem"
        let error = await #expect(throws: WebSocketError.self) {
            _ = try await WebSocketClient.connect(configuration: config, eventLoopGroup: group, logger: logger)
        }
        #expect(error?.code == .tlsConfiguration)
    }

    @Test func sharedTLSContextIsReused() throws {
        let caFile = try TestWebSocketServer.writeCAFile()
        defer { try? FileManager.default.removeItem(atPath: caFile) }
        let first = try WebSocketTLS.sharedContext(extraCAFile: caFile)
        let second = try WebSocketTLS.sharedContext(extraCAFile: caFile)
        #expect(first === second)
    }
}
