import Testing

@testable import WhatsAppProtocol

/// Pulls every frame currently available; rethrows the reader's error.
func drain(_ reader: inout FrameReader) throws(FrameError) -> [[UInt8]] {
    var frames: [[UInt8]] = []
    while let frame = try reader.nextFrame() { frames.append(frame) }
    return frames
}

/// Framing and intro header, with expected bytes written out from spec 1.2 and 1.3.
@Suite struct FrameTests {
    @Test func introGoesInFrontOfTheFirstFrameOnly() throws {
        var writer = FrameWriter()
        #expect(try writer.frame([0xAA, 0xBB]) == [0x57, 0x41, 0x06, 0x03, 0x00, 0x00, 0x02, 0xAA, 0xBB])
        #expect(try writer.frame([0xCC]) == [0x00, 0x00, 0x01, 0xCC])
        #expect(try writer.frame([]) == [0x00, 0x00, 0x00])
    }

    @Test func serverWriterSendsNoIntro() throws {
        var writer = FrameWriter(intro: nil)
        #expect(try writer.frame([0x01]) == [0x00, 0x00, 0x01, 0x01])
    }

    @Test func routingInfoForm() throws {
        let intro = try IntroHeader(routingInfo: [0x08, 0x02, 0x10])
        #expect(intro.bytes == [0x45, 0x44, 0x00, 0x01, 0x00, 0x00, 0x03, 0x08, 0x02, 0x10, 0x57, 0x41, 0x06, 0x03])
        var writer = FrameWriter(intro: intro)
        #expect(try writer.frame([0x09]) == intro.bytes + [0x00, 0x00, 0x01, 0x09])
        #expect(try writer.frame([0x09]) == [0x00, 0x00, 0x01, 0x09])
    }

    @Test func lengthIsThreeBytesBigEndian() throws {
        var writer = FrameWriter(intro: nil)
        let body = [UInt8](repeating: 7, count: 0x01_02_03)
        let wire = try writer.frame(body)
        #expect(Array(wire.prefix(3)) == [0x01, 0x02, 0x03])
        #expect(wire.count == 3 + 0x01_02_03)
    }

    @Test func bodiesOf2To24BytesCannotBeWritten() throws {
        var writer = FrameWriter()
        let tooLong = [UInt8](repeating: 0, count: 1 << 24)
        #expect(throws: FrameError(.frameTooLarge, length: 1 << 24)) { try writer.frame(tooLong) }
        // The failed write did not use up the intro header.
        let longest = try writer.frame([UInt8](repeating: 0, count: (1 << 24) - 1))
        #expect(Array(longest.prefix(7)) == [0x57, 0x41, 0x06, 0x03, 0xFF, 0xFF, 0xFF])
        #expect(throws: FrameError(.routingInfoTooLarge, length: 1 << 24)) { try IntroHeader(routingInfo: tooLong) }
    }

    @Test func readerYieldsFramesFromOneChunk() throws {
        var reader = FrameReader()
        reader.append([0x00, 0x00, 0x02, 0xAA, 0xBB, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xCC, 0x00])
        #expect(try drain(&reader) == [[0xAA, 0xBB], [], [0xCC]])
        #expect(reader.bufferedByteCount == 1)
        reader.append([0x00, 0x01])
        #expect(try drain(&reader) == [])
        reader.append([0xDD])
        #expect(try drain(&reader) == [[0xDD]])
        #expect(reader.bufferedByteCount == 0)
    }

    @Test func declaredLengthAboveMaximumIsRejectedBeforeTheBody() throws {
        var reader = FrameReader(maximumFrameLength: 100)
        reader.append([0x00, 0x00, 0x64])
        #expect(try reader.nextFrame() == nil)  // 100 is allowed: waits for the body
        var strict = FrameReader(maximumFrameLength: 100)
        strict.append([0x00, 0x00])
        #expect(try strict.nextFrame() == nil)
        strict.append([0x65])  // 101, no body yet
        #expect(throws: FrameError(.frameTooLarge, length: 101)) { try strict.nextFrame() }
    }

    @Test func defaultMaximumAcceptsEveryExpressibleLength() throws {
        var reader = FrameReader()
        reader.append([0xFF, 0xFF, 0xFF, 0x01])
        #expect(try reader.nextFrame() == nil)
        #expect(reader.maximumFrameLength == (1 << 24) - 1)
    }

    @Test func errorsAreFinal() throws {
        var reader = FrameReader(maximumFrameLength: 1)
        reader.append([0x00, 0x00, 0x02, 0xAA, 0xBB])
        #expect(throws: FrameError(.frameTooLarge, length: 2)) { try reader.nextFrame() }
        reader.append([0x00, 0x00, 0x01, 0xAA])
        #expect(throws: FrameError(.frameTooLarge, length: 2)) { try reader.nextFrame() }
        #expect(reader.bufferedByteCount == 0)
    }

    @Test func serverReaderStripsTheIntro() throws {
        var reader = FrameReader(expectsIntroHeader: true)
        reader.append([0x57, 0x41])
        #expect(try reader.nextFrame() == nil)
        reader.append([0x06, 0x03, 0x00, 0x00, 0x01, 0x42, 0x00, 0x00, 0x01, 0x43])
        #expect(try drain(&reader) == [[0x42], [0x43]])
        #expect(reader.routingInfo == nil)
    }

    @Test func serverReaderStripsTheRoutingInfoForm() throws {
        var writer = FrameWriter(intro: try IntroHeader(routingInfo: [1, 2, 3, 4, 5]))
        let wire = try writer.frame([0x42])
        var reader = FrameReader(expectsIntroHeader: true)
        for byte in wire { reader.append([byte]) }
        #expect(try drain(&reader) == [[0x42]])
        #expect(reader.routingInfo == [1, 2, 3, 4, 5])
    }

    @Test(
        arguments: [
            [0x47, 0x45, 0x54, 0x20],  // "GET "
            [0x57, 0x41, 0x06, 0x02],  // dictionary version 2
            [0x57, 0x42],
            [0x00, 0x00, 0x01, 0x42],  // a frame without the header
            [0x45, 0x44, 0x00, 0x02],  // "ED" with the wrong version
            [0x45, 0x44, 0x00, 0x01, 0x00, 0x00, 0x01, 0x09, 0x57, 0x41, 0x06, 0x04],  // routing info, bad magic
        ] as [[UInt8]])
    func serverReaderRejectsAWrongHeader(header: [UInt8]) {
        var reader = FrameReader(expectsIntroHeader: true)
        reader.append(header)
        #expect(throws: FrameError(.badIntroHeader)) { try reader.nextFrame() }
    }

    @Test func wrongHeaderIsRejectedAtTheFirstWrongByte() {
        var reader = FrameReader(expectsIntroHeader: true)
        reader.append([0x57, 0x00])
        #expect(throws: FrameError(.badIntroHeader)) { try reader.nextFrame() }
    }

    @Test func routingInfoLongerThanTheMaximumIsRejected() {
        var reader = FrameReader(maximumFrameLength: 16, expectsIntroHeader: true)
        reader.append([0x45, 0x44, 0x00, 0x01, 0x00, 0x00, 0x11])
        #expect(throws: FrameError(.routingInfoTooLarge, length: 17)) { try reader.nextFrame() }
    }
}
