import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// One HTTP/1.1 request over a fresh connection, for the control API tests.
enum TestHTTPClient {
    struct Response: Sendable {
        var status: Int
        var body: [UInt8]

        func json() throws -> [String: Any] {
            try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] ?? [:]
        }
    }

    static func request(
        _ method: HTTPMethod, _ url: String, body: [UInt8] = [], group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> Response {
        guard let components = URLComponents(string: url), let host = components.host, let port = components.port else {
            throw TestWebSocket.Failure(description: "bad URL")
        }
        let channel = try await ClientBootstrap(group: group)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    let promise = channel.eventLoop.makePromise(of: Response.self)
                    try channel.pipeline.syncOperations.addHandler(ResponseCollector(promise: promise))
                    return (channel, promise.futureResult)
                }
            }
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "\(host):\(port)")
        headers.add(name: "Content-Length", value: String(body.count))
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Connection", value: "close")
        let head = HTTPRequestHead(version: .http1_1, method: method, uri: components.path, headers: headers)
        channel.0.write(HTTPClientRequestPart.head(head), promise: nil)
        var buffer = channel.0.allocator.buffer(capacity: body.count)
        buffer.writeBytes(body)
        channel.0.write(HTTPClientRequestPart.body(.byteBuffer(buffer)), promise: nil)
        try await channel.0.writeAndFlush(HTTPClientRequestPart.end(nil))
        let response = try await channel.1.get()
        try? await channel.0.close()
        return response
    }
}

private final class ResponseCollector: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    private let promise: EventLoopPromise<TestHTTPClient.Response>
    private var response = TestHTTPClient.Response(status: 0, body: [])

    init(promise: EventLoopPromise<TestHTTPClient.Response>) {
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): response.status = Int(head.status.code)
        case .body(var buffer): response.body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end: promise.succeed(response)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(TestWebSocket.Failure(description: "closed before the response"))
        context.fireChannelInactive()
    }
}
