/// Turns frame bodies into wire bytes: the length prefix, and the intro header in front of the first
/// frame only (spec 1.2, 1.3). The client uses the default; a server, which sends no intro, passes nil.
public struct FrameWriter: Sendable {
    private var pendingIntro: [UInt8]?

    /// - Parameter intro: sent once before the first frame; nil for none (server side).
    public init(intro: IntroHeader? = .standard) {
        pendingIntro = intro?.bytes
    }

    /// The wire bytes for one frame body (with the intro header if this is the first frame).
    public mutating func frame(_ body: [UInt8]) throws(FrameError) -> [UInt8] {
        guard body.count <= FrameFormat.maximumLength else {
            throw FrameError(.frameTooLarge, length: body.count)
        }
        var out: [UInt8] = []
        out.reserveCapacity((pendingIntro?.count ?? 0) + FrameFormat.lengthPrefixSize + body.count)
        if let intro = pendingIntro {
            out.append(contentsOf: intro)
            pendingIntro = nil
        }
        out.append(contentsOf: FrameFormat.lengthPrefix(body.count))
        out.append(contentsOf: body)
        return out
    }
}
