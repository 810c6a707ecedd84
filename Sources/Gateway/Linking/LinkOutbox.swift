import Store
import WhatsAppLink

/// The work one link hands off so its own loop never waits on the store or the broker: the link
/// enqueues, and a task of its own drains the items one after another, in order. A slow store or a
/// blocked broker then delays events, never keepalives or QR rotation.
final class LinkOutbox: Sendable {
    enum Item: Sendable {
        case publish(WalinkEvent)
        /// Store the status, then announce it with `session.status`.
        case setStatus(SessionStatus)
        /// Store identity and credentials in one write, then announce `session.status` paired and
        /// `auth.paired`; if the write fails, the session is failed and `auth.failed` says why.
        case storePairing(PairedDevice)
    }

    let items: AsyncStream<Item>
    private let continuation: AsyncStream<Item>.Continuation

    init() {
        (items, continuation) = AsyncStream.makeStream(of: Item.self)
    }

    /// Queues `item` behind the ones before it; false once the outbox was closed.
    @discardableResult
    func enqueue(_ item: Item) -> Bool {
        if case .enqueued = continuation.yield(item) { return true }
        return false
    }

    /// No more items: the drain ends after the queued ones.
    func close() {
        continuation.finish()
    }
}
