/// Publisher-confirm bookkeeping for one channel in confirm mode. I/O-free.
///
/// Sequence numbers start at 1 after `confirm.select`; `basic.ack`/`basic.nack` carry the number,
/// and `multiple` covers every outstanding number up to it. Acks may arrive out of order.
struct ConfirmTracker<Token> {
    private var outstanding: [(sequence: UInt64, token: Token)] = []
    private(set) var nextSequence: UInt64 = 1

    /// Records the next publish and returns its sequence number.
    mutating func register(_ token: Token) -> UInt64 {
        let sequence = nextSequence
        nextSequence += 1
        outstanding.append((sequence, token))
        return sequence
    }

    /// Removes and returns the tokens a confirm (ack or nack) settles.
    mutating func settle(deliveryTag: UInt64, multiple: Bool) -> [Token] {
        if multiple {
            let end = outstanding.partitioningIndex { $0.sequence > deliveryTag }
            let settled = outstanding[..<end].map(\.token)
            outstanding.removeSubrange(..<end)
            return settled
        }
        let index = outstanding.partitioningIndex { $0.sequence >= deliveryTag }
        guard index < outstanding.count, outstanding[index].sequence == deliveryTag else { return [] }
        return [outstanding.remove(at: index).token]
    }

    /// The token waiting under `sequence`, without settling it.
    func token(for sequence: UInt64) -> Token? {
        let index = outstanding.partitioningIndex { $0.sequence >= sequence }
        guard index < outstanding.count, outstanding[index].sequence == sequence else { return nil }
        return outstanding[index].token
    }

    /// Removes every outstanding token whose predicate holds (e.g. expired deadlines).
    mutating func removeAll(where predicate: (Token) -> Bool) -> [Token] {
        var removed: [Token] = []
        outstanding.removeAll { entry in
            if predicate(entry.token) {
                removed.append(entry.token)
                return true
            }
            return false
        }
        return removed
    }

    /// Everything outstanding, for a connection that is gone; numbering restarts at 1.
    mutating func drain() -> [Token] {
        defer {
            outstanding.removeAll()
            nextSequence = 1
        }
        return outstanding.map(\.token)
    }

    var count: Int { outstanding.count }
}

extension Array {
    /// The first index where `predicate` holds, for an array partitioned so that it fails then holds.
    func partitioningIndex(where predicate: (Element) -> Bool) -> Int {
        var low = 0
        var high = count
        while low < high {
            let mid = (low + high) / 2
            if predicate(self[mid]) { high = mid } else { low = mid + 1 }
        }
        return low
    }
}
