import Foundation
import SwiftProtobuf
import Testing
import WhatsAppProtocol

/// The generated messages read and re-write what whatsmeow really sent, byte for byte.
struct ProtobufTranscriptTests {
    @Test(arguments: TranscriptPayload.names)
    func clientPayloadMatchesItsTextFormat(name: String) throws {
        let transcript = try TranscriptPayload.load(name)
        let binary = try WAClientPayload(serializedBytes: transcript.raw)
        let fromText = try WAClientPayload(textFormatString: transcript.text)
        #expect(binary == fromText)
        #expect(binary.unknownFields.data.isEmpty)
        // A few fields spelled out, so a silently empty parse cannot pass.
        #expect(binary.userAgent.platform == .web)
        #expect(binary.userAgent.hasManufacturer && binary.userAgent.manufacturer.isEmpty)
        #expect(binary.connectType == .wifiUnknown)
        #expect(binary.connectReason == .userActivated)
        #expect(binary.webInfo.hasWebSubPlatform && binary.webInfo.webSubPlatform == .webBrowser)
        if transcript.isRegistration {
            #expect(binary.hasDevicePairingData)
            #expect(binary.hasPassive && !binary.passive)
            #expect(binary.devicePairingData.eKeytype == Data([5]))
        } else {
            #expect(!binary.hasDevicePairingData)
            #expect(binary.passive && binary.pull && binary.lidDbMigrated)
            #expect(binary.username == 15_550_001_111)
            #expect(binary.device == 5)
            #expect(binary.lc == 1)
        }
    }

    @Test(arguments: TranscriptPayload.names)
    func clientPayloadRoundTripsToIdenticalBytes(name: String) throws {
        let transcript = try TranscriptPayload.load(name)
        let payload = try WAClientPayload(serializedBytes: transcript.raw)
        let reserialized: [UInt8] = try payload.serializedBytes()
        #expect(reserialized == transcript.raw)
    }

    @Test(arguments: ["qr-conn1", "code-conn1"])
    func devicePropsInsideRegistrationRoundTrip(name: String) throws {
        let transcript = try TranscriptPayload.load(name)
        let payload = try WAClientPayload(serializedBytes: transcript.raw)
        let propsBytes = payload.devicePairingData.deviceProps
        let props = try WADeviceProps(serializedBytes: propsBytes)
        #expect(props.unknownFields.data.isEmpty)
        #expect(props.hasOs && props.hasVersion && props.hasPlatformType && props.hasHistorySyncConfig)
        #expect(props.historySyncConfig.storageQuotaMb == 10240)
        #expect(props.historySyncConfig.thumbnailSyncDaysLimit == 60)
        let reserialized: Data = try props.serializedBytes()
        #expect(reserialized == propsBytes)
    }

    @Test(arguments: TranscriptPayload.names)
    func handshakeMessagesParseAndRoundTrip(name: String) throws {
        let transcript = try TranscriptPayload.load(name)

        let hello = try WAHandshakeMessage(serializedBytes: transcript.clientHello)
        #expect(hello.hasClientHello && !hello.hasServerHello && !hello.hasClientFinish)
        #expect(hello.clientHello.ephemeral.count == 32)
        #expect(!hello.clientHello.hasPayload)
        #expect(try hello.serializedBytes() == transcript.clientHello)

        let finish = try WAHandshakeMessage(serializedBytes: transcript.clientFinish)
        #expect(finish.hasClientFinish && !finish.hasClientHello)
        // Encrypted noise static (32 + 16 tag) and the encrypted ClientPayload (+16 tag).
        #expect(finish.clientFinish.static.count == 48)
        #expect(finish.clientFinish.payload.count == transcript.raw.count + 16)
        #expect(try finish.serializedBytes() == transcript.clientFinish)
    }
}
