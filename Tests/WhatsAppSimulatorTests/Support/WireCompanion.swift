import Foundation
import NIOCore
import NIOPosix
import WhatsAppProtocol

@testable import WhatsAppSimulator

/// A companion on the wire: ``TestWebSocket`` + ``CompanionCodec`` + ``CompanionLogic``.
struct WireCompanion {
    let socket: TestWebSocket
    var codec: CompanionCodec
    var logic: CompanionLogic
    private var pending: [BinaryNode] = []

    struct Closed: Error {}

    /// Connects and runs the handshake carrying `payload` (registration when nil).
    static func connect(
        _ endpoints: SimulatorEndpoints, logic: CompanionLogic = CompanionLogic(), payload: [UInt8]? = nil,
        rootPublicKeyHex: String? = nil, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> WireCompanion {
        guard
            case .upgraded(let socket) = try await TestWebSocket.connect(
                url: endpoints.webSocketURL, caFile: endpoints.caFilePath, group: group)
        else { throw TestWebSocket.Failure(description: "upgrade refused") }
        let root = Hex.decode(rootPublicKeyHex ?? endpoints.rootPublicKeyHex)!
        var codec = CompanionCodec(noiseKey: logic.credentials.noiseKey, rootPublicKey: root)
        do {
            try await socket.send(try codec.clientHello())
            guard let hello = try await socket.receive() else { throw Closed() }
            let frames = try codec.frames(hello)
            try await socket.send(
                try codec.clientFinish(serverHello: frames[0], payload: payload ?? logic.registrationPayload))
        } catch {
            await socket.close()
            throw error
        }
        return WireCompanion(socket: socket, codec: codec, logic: logic)
    }

    mutating func send(_ node: BinaryNode) async throws {
        try await socket.send(try codec.seal(node))
    }

    /// The next stanza, nil once the server closed the connection.
    mutating func receive(timeout: Duration = .seconds(120)) async throws -> BinaryNode? {
        while pending.isEmpty {
            guard let message = try await socket.receive(timeout: timeout) else { return nil }
            pending += try codec.open(message)
        }
        return pending.removeFirst()
    }

    /// The next stanza, which must exist.
    mutating func next(timeout: Duration = .seconds(120)) async throws -> BinaryNode {
        guard let node = try await receive(timeout: timeout) else { throw Closed() }
        return node
    }

    /// True once the server closed (after any stanzas still in flight, which are returned).
    mutating func drainUntilClosed(timeout: Duration = .seconds(120)) async throws -> [BinaryNode] {
        var nodes: [BinaryNode] = []
        while let node = try await receive(timeout: timeout) { nodes.append(node) }
        return nodes
    }

    /// Leaves with a WebSocket close frame; the server's answer ends ``receive(timeout:)``.
    func sendClose() async throws {
        try await socket.sendClose()
    }

    func close() async {
        await socket.close()
    }
}
