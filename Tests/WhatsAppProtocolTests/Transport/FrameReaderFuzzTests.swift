import TestRandom
import Testing

@testable import WhatsAppProtocol

/// Hostile and randomly cut input for `FrameReader`: it must give the same result however the stream is
/// cut, and either frames or a clean `FrameError` for any bytes.
@Suite struct FrameReaderFuzzTests {
    /// Outcome of feeding a stream: the frames before any error, and the error.
    struct Outcome: Equatable {
        var frames: [[UInt8]] = []
        var error: FrameError?
        var routingInfo: [UInt8]?
        var buffered = 0
    }

    static func feed(_ chunks: [[UInt8]], into reader: FrameReader) -> Outcome {
        var reader = reader
        var outcome = Outcome()
        for chunk in chunks {
            reader.append(chunk)
            do {
                while let frame = try reader.nextFrame() { outcome.frames.append(frame) }
            } catch {
                outcome.error = error
                break
            }
        }
        outcome.routingInfo = reader.routingInfo
        outcome.buffered = reader.bufferedByteCount
        return outcome
    }

    /// A straightforward whole-buffer parse of a stream without intro header, written separately from
    /// `FrameReader` to compare against.
    static func referenceParse(_ bytes: [UInt8], maximum: Int) -> Outcome {
        var outcome = Outcome()
        var index = 0
        while bytes.count - index >= 3 {
            let length = Int(bytes[index]) << 16 | Int(bytes[index + 1]) << 8 | Int(bytes[index + 2])
            if length > maximum {
                outcome.error = FrameError(.frameTooLarge, length: length)
                return outcome
            }
            guard bytes.count - index - 3 >= length else { break }
            outcome.frames.append(Array(bytes[index + 3..<index + 3 + length]))
            index += 3 + length
        }
        outcome.buffered = bytes.count - index
        return outcome
    }

    @Test func randomChunkingsOfValidStreamsYieldTheSameFrames() throws {
        var random = TransportFuzzRandom(seed: 0x5EED_0001)
        for _ in 0..<3000 {
            let frames = (0..<Int.random(in: 0...8, using: &random)).map { _ in
                random.bytes(
                    Bool.random(using: &random)
                        ? Int.random(in: 0...40, using: &random)
                        : Int.random(in: 0...700, using: &random))
            }
            let intro: IntroHeader? =
                switch Int.random(in: 0...2, using: &random) {
                case 0: nil
                case 1: .standard
                default: try IntroHeader(routingInfo: random.bytes(Int.random(in: 0...30, using: &random)))
                }
            var writer = FrameWriter(intro: intro)
            var stream: [UInt8] = []
            for frame in frames { stream += try writer.frame(frame) }
            let chunks = random.chunks(of: stream, maxChunk: [2, 7, 64, 5000].randomElement(using: &random)!)

            let outcome = Self.feed(chunks, into: FrameReader(expectsIntroHeader: intro != nil))
            #expect(outcome.error == nil)
            #expect(outcome.frames == frames)
            #expect(outcome.buffered == 0 || frames.isEmpty)
            if !frames.isEmpty { #expect(outcome.routingInfo == intro?.routingInfo) }
        }
    }

    @Test func randomBytesMatchTheReferenceParser() {
        var random = TransportFuzzRandom(seed: 0x5EED_0002)
        for _ in 0..<4000 {
            // Small leading bytes make short declared lengths likely, so frames do come out.
            let bytes = (0..<Int.random(in: 0...300, using: &random)).map { _ in
                Bool.random(using: &random) ? UInt8.random(in: 0...3, using: &random) : UInt8.random(in: 0...255, using: &random)
            }
            let maximum = [0, 5, 100, 1000, FrameFormat.maximumLength].randomElement(using: &random)!
            let chunks = random.chunks(of: bytes, maxChunk: Int.random(in: 1...40, using: &random))
            let outcome = Self.feed(chunks, into: FrameReader(maximumFrameLength: maximum))
            #expect(outcome == Self.referenceParse(bytes, maximum: maximum))
        }
    }

    @Test func mutatedStreamsGiveTheSameResultHoweverTheyAreCut() throws {
        var random = TransportFuzzRandom(seed: 0x5EED_0003)
        for _ in 0..<4000 {
            let expectsIntro = Bool.random(using: &random)
            let intro: IntroHeader? =
                !expectsIntro
                ? nil
                : Bool.random(using: &random) ? .standard : try IntroHeader(routingInfo: random.bytes(Int.random(in: 0...12, using: &random)))
            var writer = FrameWriter(intro: intro)
            var stream: [UInt8] = []
            for _ in 0..<Int.random(in: 1...5, using: &random) {
                stream += try writer.frame(random.bytes(Int.random(in: 0...60, using: &random)))
            }
            for _ in 0..<Int.random(in: 1...4, using: &random) where !stream.isEmpty {
                let at = Int.random(in: 0..<stream.count, using: &random)
                switch Int.random(in: 0...3, using: &random) {
                case 0: stream[at] ^= UInt8.random(in: 1...255, using: &random)
                case 1: stream.insert(UInt8.random(in: 0...255, using: &random), at: at)
                case 2: stream.remove(at: at)
                default: stream.removeLast(Int.random(in: 0...(stream.count - at), using: &random))
                }
            }
            let maximum = [40, 1000, FrameFormat.maximumLength].randomElement(using: &random)!
            let reader = FrameReader(maximumFrameLength: maximum, expectsIntroHeader: expectsIntro)
            let whole = Self.feed([stream], into: reader)
            let cut = Self.feed(random.chunks(of: stream, maxChunk: Int.random(in: 1...20, using: &random)), into: reader)
            #expect(cut == whole)
            if !expectsIntro { #expect(whole == Self.referenceParse(stream, maximum: maximum)) }
        }
    }
}
