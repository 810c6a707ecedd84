/// Publisher-confirm bookkeeping for one channel in confirm mode. I/O-free.
///
/// Sequence numbers start at 1 after `confirm.select`; `basic.ack`/`basic.nack` carry the number,
/// and `multiple` covers every outstanding number up to it. Acks may arrive out of order.
///
/// Confirms nearly always settle the oldest publishes, so the outstanding ones are a queue whose
/// live part is `outstanding[head...]`: settling from the front moves `head` instead of shifting
/// every later entry (with a few hundred publishes in flight, that shift cost more than the rest of
/// the confirm's handling).
struct ConfirmTracker<Token> {
    private var outstanding: [(sequence: UInt64, token: Token)] = []
    private var head = 0
    private(set) var nextSequence: UInt64 = 1

    /// Records the next publish and returns its sequence number.
    mutating func register(_ token: Token) -> UInt64 {
        let sequence = nextSequence
        nextSequence += 1
        outstanding.append((sequence, token))
        return sequence
    }

    /// Removes the tokens a confirm (ack or nack) settles and hands each to `body`, oldest first.
    mutating func settle(deliveryTag: UInt64, multiple: Bool, _ body: (Token) -> Void) {
        if multiple {
            while head < outstanding.count, outstanding[head].sequence <= deliveryTag {
                body(outstanding[head].token)
                head += 1
            }
        } else if head < outstanding.count, outstanding[head].sequence == deliveryTag {
            body(outstanding[head].token)
            head += 1
        } else {
            let index = outstanding[head...].partitioningIndex { $0.sequence >= deliveryTag }
            guard index < outstanding.count, outstanding[index].sequence == deliveryTag else { return }
            body(outstanding.remove(at: index).token)
        }
        compact()
    }

    /// Removes and returns the tokens a confirm (ack or nack) settles.
    mutating func settle(deliveryTag: UInt64, multiple: Bool) -> [Token] {
        var settled: [Token] = []
        settle(deliveryTag: deliveryTag, multiple: multiple) { settled.append($0) }
        return settled
    }

    /// The token waiting under `sequence`, without settling it.
    func token(for sequence: UInt64) -> Token? {
        let index = outstanding[head...].partitioningIndex { $0.sequence >= sequence }
        guard index < outstanding.count, outstanding[index].sequence == sequence else { return nil }
        return outstanding[index].token
    }

    /// Removes every outstanding token whose predicate holds (e.g. expired deadlines).
    mutating func removeAll(where predicate: (Token) -> Bool) -> [Token] {
        var removed: [Token] = []
        outstanding.removeSubrange(..<head)
        head = 0
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
            head = 0
            nextSequence = 1
        }
        return outstanding[head...].map(\.token)
    }

    var count: Int { outstanding.count - head }

    /// The longest-waiting token: registrations come in order, and whatever settles, the front of
    /// the live part is the oldest left.
    var oldest: Token? { head < outstanding.count ? outstanding[head].token : nil }

    /// Drops the settled front once it is most of the array (amortized O(1) per publish).
    private mutating func compact() {
        if head == outstanding.count {
            outstanding.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 256, head * 2 >= outstanding.count {
            outstanding.removeSubrange(..<head)
            head = 0
        }
    }
}

extension RandomAccessCollection where Index == Int {
    /// The first index where `predicate` holds, for a collection partitioned so that it fails then holds.
    func partitioningIndex(where predicate: (Element) -> Bool) -> Int {
        var low = startIndex
        var high = endIndex
        while low < high {
            let mid = (low + high) / 2
            if predicate(self[mid]) { high = mid } else { low = mid + 1 }
        }
        return low
    }
}
