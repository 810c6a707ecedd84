import Logging
import NIOCore
import NIOSSL
import NIOWebSocket

/// The last handler of an upgraded client channel: turns whole (aggregated) binary WebSocket messages into
/// elements of ``WebSocketMessages``, answers pings, runs the close handshake and passes back-pressure from
/// the consumer to the socket (a read is only forwarded while the consumer wants more).
///
/// Everything here runs on the channel's event loop.
final class WebSocketMessageHandler: ChannelDuplexHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    typealias Producer = NIOThrowingAsyncSequenceProducer<
        [UInt8], any Error, NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark, Delegate
    >

    /// Hops the consumer's demand signals onto the event loop.
    struct Delegate: NIOAsyncSequenceProducerDelegate {
        let handler: NIOLoopBound<WebSocketMessageHandler>

        func produceMore() {
            handler.eventLoop.execute { handler.value.produceMore() }
        }

        func didTerminate() {
            handler.eventLoop.execute { handler.value.consumerTerminated() }
        }
    }

    private var source: Producer.Source?
    private var context: ChannelHandlerContext?
    private let logger: Logger
    private let closeTimeout: TimeAmount

    /// The consumer asked for more (or has not yet said stop).
    private var wantsMore = true
    /// A read arrived while the consumer did not want more; forward it once it does.
    private var pendingRead = false
    /// We sent our close frame; no data frames may follow.
    private var closeSent = false
    /// The peer's close frame arrived.
    private var closeReceived = false
    private var closeTimer: Scheduled<Void>?
    /// The first error seen, delivered to the consumer when the stream ends.
    private var failure: WebSocketError?

    /// The close code the peer sent, if it sent one.
    private(set) var peerCloseCode: WebSocketErrorCode?

    init(closeTimeout: TimeAmount, logger: Logger) {
        self.closeTimeout = closeTimeout
        self.logger = logger
    }

    /// Called once, on the event loop, right after the handler is added.
    func attach(source: Producer.Source) {
        self.source = source
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.execute { loopBound.value.finishSource() }
        closeTimer?.cancel()
        self.context = nil
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .binary:
            guard !closeReceived, let source else { return }
            var buffer = frame.unmaskedData
            let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
            switch source.yield(bytes) {
            case .produceMore: wantsMore = true
            case .stopProducing: wantsMore = false
            case .dropped: break
            }
        case .text:
            logger.warning("Ignoring a text WebSocket message", metadata: [LinkMetadataKey.size: "\(frame.length)"])
        case .ping:
            guard !closeSent else { return }
            let pong = WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .pong:
            break
        case .connectionClose:
            receivedClose(context: context, frame: frame)
        default:
            // Continuations never get here (the aggregator joins them); unknown opcodes are dropped.
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        // An error that made a handler further up close the channel is delivered to `errorCaught` only after
        // this returns (same call stack); end the stream one tick later so the consumer sees that error.
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.execute { loopBound.value.finishSource() }
        closeTimer?.cancel()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if failure == nil { failure = Self.translate(error) }
        logger.debug("WebSocket error", metadata: [LinkMetadataKey.error: "\(error)"])
        context.close(promise: nil)
    }

    private func receivedClose(context: ChannelHandlerContext, frame: WebSocketFrame) {
        guard !closeReceived else { return }
        closeReceived = true
        var data = frame.unmaskedData
        peerCloseCode = data.readWebSocketErrorCode()
        logger.debug("WebSocket close received", metadata: [LinkMetadataKey.closeCode: "\(peerCloseCode.map { "\($0)" } ?? "none")"])
        // The stream ends here; the consumer sees a clean end.
        finishSource()
        if closeSent {
            context.close(promise: nil)
            return
        }
        closeSent = true
        var reply = context.channel.allocator.buffer(capacity: 2)
        reply.write(webSocketErrorCode: peerCloseCode ?? .normalClosure)
        let frame = WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: reply)
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(frame)).whenComplete { _ in
            loopBound.value.close(promise: nil)
        }
    }

    // MARK: Outbound

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // Our own control frames go straight to the next handler; this only sees the owner's messages.
        guard !closeSent else {
            promise?.fail(WebSocketError(.connectionClosed))
            return
        }
        context.write(data, promise: promise)
    }

    func read(context: ChannelHandlerContext) {
        if wantsMore {
            context.read()
        } else {
            pendingRead = true
        }
    }

    // MARK: Consumer signals and commands

    private func produceMore() {
        wantsMore = true
        if pendingRead, let context {
            pendingRead = false
            context.read()
        }
    }

    private func consumerTerminated() {
        source = nil
        // Nobody listens any more: stop reading and go.
        initiateClose(code: .goingAway)
    }

    /// Sends our close frame (once) and closes the channel when the peer answers or after the close timeout.
    func initiateClose(code: WebSocketErrorCode) {
        guard let context else { return }
        if closeReceived || !context.channel.isActive {
            context.close(promise: nil)
            return
        }
        guard !closeSent else { return }
        closeSent = true
        var data = context.channel.allocator.buffer(capacity: 2)
        data.write(webSocketErrorCode: code)
        let frame = WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: data)
        context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        closeTimer = context.eventLoop.scheduleTask(in: closeTimeout) {
            loopBound.value.close(promise: nil)
        }
    }

    private func finishSource() {
        guard let source else { return }
        self.source = nil
        if let failure {
            source.finish(failure)
        } else {
            source.finish()
        }
    }

    /// Maps pipeline errors to the public error codes.
    static func translate(_ error: any Error) -> WebSocketError {
        switch error {
        case let error as WebSocketError:
            return error
        case let error as NIOWebSocketError:
            switch error {
            case .invalidFrameLength: return WebSocketError(.messageTooLarge, detail: "\(error)")
            default: return WebSocketError(.protocolViolation, detail: "\(error)")
            }
        case let error as NIOWebSocketFrameAggregator.Error:
            switch error {
            case .accumulatedFrameSizeIsTooLarge, .tooManyFragments:
                return WebSocketError(.messageTooLarge, detail: "\(error)")
            default:
                return WebSocketError(.protocolViolation, detail: "\(error)")
            }
        case is NIOSSLError, is BoringSSLError:
            return WebSocketError(.tlsFailure, detail: "\(error)")
        default:
            return WebSocketError(.connectionClosed, detail: "\(error)")
        }
    }
}

@available(*, unavailable)
extension WebSocketMessageHandler: Sendable {}
