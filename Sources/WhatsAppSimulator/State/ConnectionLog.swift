import Synchronization
import WhatsAppProtocol

/// One WhatsApp WebSocket connection as the simulator saw it: when it was accepted, when its first
/// and last binary messages (frames) arrived, when it closed, and whose it is — the companion's Noise
/// static public key from the handshake (the same key its QR code carries, and the one a paired
/// device logs in with), so a test can tell which companion session a connection belonged to.
///
/// Times are nanoseconds on the simulator's monotonic clock since it was created: comparable with
/// each other within one simulator, meaningless across processes.
public struct SimulatorConnection: Sendable, Hashable, Codable {
    /// Unique within the simulator (the `connection` of ``SimulatorKeepalive``).
    public var id: UInt64
    /// The companion's IP address, as the simulator saw it (which host it came from).
    public var peer: String?
    /// The companion's Noise static public key as hex, once the handshake completed; nil before.
    public var noiseKey: String?
    /// `registration` (a companion to be linked) or `login` (a linked device), once known.
    public var kind: String?
    /// The device's JID on a `login` connection.
    public var jid: String?
    public var accepted: UInt64
    /// The first and the last binary WebSocket message received; nil while none arrived.
    public var firstFrame: UInt64?
    public var lastFrame: UInt64?
    /// Binary WebSocket messages received.
    public var frames: Int
    /// When the connection went away; nil while it is open.
    public var closed: UInt64?
}

/// The record of every connection (the most recent ``capacity``), kept by ``SimulatorCore``.
final class ConnectionLog: Sendable {
    static let capacity = 100_000
    private let origin = ContinuousClock.now
    private let records = Mutex<(order: [UInt64], byID: [UInt64: SimulatorConnection])>(([], [:]))

    /// Now, in nanoseconds since the log was made.
    func now() -> UInt64 {
        let (seconds, attoseconds) = (ContinuousClock.now - origin).components
        return UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds / 1_000_000_000))
    }

    func accepted(_ id: UInt64, peer: String?) {
        let at = now()
        records.withLock { records in
            if records.order.count >= Self.capacity {
                let dropped = records.order.prefix(records.order.count / 2)
                for old in dropped { records.byID[old] = nil }
                records.order.removeFirst(dropped.count)
            }
            records.order.append(id)
            records.byID[id] = SimulatorConnection(id: id, peer: peer, accepted: at, frames: 0)
        }
    }

    func frame(_ id: UInt64) {
        let at = now()
        records.withLock { records in
            guard var record = records.byID[id] else { return }
            if record.firstFrame == nil { record.firstFrame = at }
            record.lastFrame = at
            record.frames += 1
            records.byID[id] = record
        }
    }

    func authenticated(_ id: UInt64, noiseKey: [UInt8], kind: String, jid: String?) {
        records.withLock { records in
            records.byID[id]?.noiseKey = Hex.encode(noiseKey)
            records.byID[id]?.kind = kind
            records.byID[id]?.jid = jid
        }
    }

    func closed(_ id: UInt64) {
        let at = now()
        records.withLock { records in
            if records.byID[id]?.closed == nil { records.byID[id]?.closed = at }
        }
    }

    /// Every recorded connection, in the order they were accepted.
    var all: [SimulatorConnection] {
        records.withLock { records in records.order.compactMap { records.byID[$0] } }
    }
}
