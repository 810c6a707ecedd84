/// Reassembles frames from a byte stream cut at arbitrary places (spec 1.1, 1.3).
///
/// A WebSocket message may hold part of a frame, one frame or several, so the reader buffers across
/// messages: ``append(_:)`` each message as it arrives, then call ``nextFrame()`` until it returns nil.
/// A declared length above ``maximumFrameLength`` is rejected as soon as its 3 length bytes are in,
/// without waiting for (or buffering towards) the body.
///
/// The server side (the simulator) sets `expectsIntroHeader` so the reader first checks and strips the
/// client's intro header, accepting the routing-info form too (see ``IntroHeader``).
///
/// Errors are final: the stream cannot be resynchronised, so once ``nextFrame()`` has thrown it throws
/// the same error again and drops further input; the caller should close the connection.
public struct FrameReader: Sendable {
    /// Declared lengths above this are rejected; at most ``FrameFormat/maximumLength``.
    public let maximumFrameLength: Int
    /// The routing info from an `ED` intro header, once a server-side reader has read one.
    public private(set) var routingInfo: [UInt8]?

    private var buffer: [UInt8] = []
    /// Index of the first unconsumed byte in `buffer`.
    private var start = 0
    private var awaitingIntro: Bool
    private var failure: FrameError?

    /// - Parameters:
    ///   - maximumFrameLength: the longest frame body accepted, `0...FrameFormat.maximumLength`
    ///     (a programming error otherwise). Also caps the routing-info length of an intro header.
    ///   - expectsIntroHeader: true on the server side, where the stream starts with the intro header.
    public init(maximumFrameLength: Int = FrameFormat.maximumLength, expectsIntroHeader: Bool = false) {
        precondition((0...FrameFormat.maximumLength).contains(maximumFrameLength), "maximumFrameLength out of range")
        self.maximumFrameLength = maximumFrameLength
        self.awaitingIntro = expectsIntroHeader
    }

    /// Bytes buffered but not yet returned as frames.
    public var bufferedByteCount: Int { buffer.count - start }

    /// Adds received bytes (one WebSocket message, or any piece of the stream). Ignored after an error.
    public mutating func append(_ chunk: some Sequence<UInt8>) {
        guard failure == nil else { return }
        if start == buffer.count { emptyBuffer() }
        buffer.append(contentsOf: chunk)
    }

    /// The next complete frame body, or nil until more bytes are appended.
    public mutating func nextFrame() throws(FrameError) -> [UInt8]? {
        if let failure { throw failure }
        do {
            if awaitingIntro {
                guard try readIntro() else { return nil }
            }
            return try readFrame()
        } catch {
            failure = error
            buffer = []
            start = 0
            throw error
        }
    }

    private mutating func readFrame() throws(FrameError) -> [UInt8]? {
        guard let length = try declaredLength(at: start, limit: maximumFrameLength, code: .frameTooLarge) else {
            return nil
        }
        let bodyStart = start + FrameFormat.lengthPrefixSize
        guard buffer.count - bodyStart >= length else { return nil }
        let frame = Array(buffer[bodyStart..<bodyStart + length])
        consume(upTo: bodyStart + length)
        return frame
    }

    /// Checks and strips the intro header; false while more bytes are needed. Rejects a mismatch as soon
    /// as the first wrong byte is in.
    private mutating func readIntro() throws(FrameError) -> Bool {
        guard start < buffer.count else { return false }
        if buffer[start] == IntroHeader.routingPrefix[0] {
            guard try matches(IntroHeader.routingPrefix, at: start) else { return false }
            let lengthAt = start + IntroHeader.routingPrefix.count
            guard let length = try declaredLength(at: lengthAt, limit: maximumFrameLength, code: .routingInfoTooLarge) else {
                return false
            }
            let infoStart = lengthAt + FrameFormat.lengthPrefixSize
            let magicStart = infoStart + length
            guard buffer.count >= magicStart, try matches(IntroHeader.magic, at: magicStart) else { return false }
            routingInfo = Array(buffer[infoStart..<magicStart])
            consume(upTo: magicStart + IntroHeader.magic.count)
        } else {
            guard try matches(IntroHeader.magic, at: start) else { return false }
            consume(upTo: start + IntroHeader.magic.count)
        }
        awaitingIntro = false
        return true
    }

    /// True when `expected` is fully present at `offset`, false when the bytes present so far match but
    /// some are missing; throws on the first mismatching byte.
    private func matches(_ expected: [UInt8], at offset: Int) throws(FrameError) -> Bool {
        let available = max(0, min(expected.count, buffer.count - offset))
        for i in 0..<available where buffer[offset + i] != expected[i] {
            throw FrameError(.badIntroHeader)
        }
        return available == expected.count
    }

    /// The 3-byte big-endian length at `offset`, nil if not all in yet; throws `code` above `limit`.
    private func declaredLength(at offset: Int, limit: Int, code: FrameError.Code) throws(FrameError) -> Int? {
        guard buffer.count - offset >= FrameFormat.lengthPrefixSize else { return nil }
        let length = Int(buffer[offset]) << 16 | Int(buffer[offset + 1]) << 8 | Int(buffer[offset + 2])
        guard length <= limit else { throw FrameError(code, length: length) }
        return length
    }

    /// Marks bytes before `index` as read, compacting once the dead prefix is at least half the buffer.
    private mutating func consume(upTo index: Int) {
        start = index
        if start == buffer.count {
            emptyBuffer()
        } else if start >= 4096, start * 2 >= buffer.count {
            buffer.removeSubrange(0..<start)
            start = 0
        }
    }

    /// Drops all buffered bytes, keeping the storage unless a large frame made it big.
    private mutating func emptyBuffer() {
        buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 16)
        start = 0
    }
}
