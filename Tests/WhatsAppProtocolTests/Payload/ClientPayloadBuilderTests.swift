import Crypto
import Foundation
import SwiftProtobuf
import Testing
import WhatsAppProtocol

/// Our ClientPayloads set exactly the fields whatsmeow set in the transcripts, with well-formed key material.
struct ClientPayloadBuilderTests {
    /// Field paths of a ClientPayload, with the serialized DeviceProps inside devicePairingData (19.8) expanded.
    static func shape(_ bytes: [UInt8]) throws -> Set<String> {
        let payload = try WAClientPayload(serializedBytes: bytes)
        var paths = try FieldPresence.paths(of: payload)
        if payload.devicePairingData.hasDeviceProps {
            let props = try WADeviceProps(serializedBytes: payload.devicePairingData.deviceProps)
            paths.formUnion(try FieldPresence.paths(of: props, prefix: "19.8."))
        }
        return paths
    }

    @Test(arguments: ["qr-conn1", "code-conn1"])
    func registrationSetsTheSameFieldsAsWhatsmeow(name: String) throws {
        let transcript = try TranscriptPayload.load(name)
        let theirs = try Self.shape(transcript.raw)
        let ours = try Self.shape(ClientPayloadBuilder.registration(credentials: .generate()))
        #expect(theirs.contains("19.8.5.22"))  // reached HistorySyncConfig inside DeviceProps
        #expect(ours.subtracting(theirs).isEmpty, "only ours: \(ours.subtracting(theirs).sorted())")
        #expect(theirs.subtracting(ours).isEmpty, "only whatsmeow's: \(theirs.subtracting(ours).sorted())")
    }

    @Test(arguments: ["qr-conn2", "code-conn2"])
    func loginSetsTheSameFieldsAsWhatsmeow(name: String) throws {
        let transcript = try TranscriptPayload.load(name)
        let parsed = try WAClientPayload(serializedBytes: transcript.raw)
        let theirs = try Self.shape(transcript.raw)
        let oursBytes = ClientPayloadBuilder.login(username: parsed.username, device: parsed.device)
        let ours = try Self.shape(oursBytes)
        #expect(ours == theirs, "only ours: \(ours.subtracting(theirs).sorted()), only theirs: \(theirs.subtracting(ours).sorted())")
        let payload = try WAClientPayload(serializedBytes: oursBytes)
        #expect(payload.username == parsed.username && payload.device == parsed.device)
        #expect(payload.passive == parsed.passive && payload.pull == parsed.pull)
        #expect(payload.lidDbMigrated == parsed.lidDbMigrated && payload.lc == parsed.lc)
    }

    @Test func registrationKeyMaterialIsWellFormed() throws {
        let credentials = DeviceCredentials.generate()
        let payload = try WAClientPayload(serializedBytes: ClientPayloadBuilder.registration(credentials: credentials))
        let data = payload.devicePairingData
        #expect(data.eRegid.count == 4)
        #expect(data.eRegid.reduce(UInt32(0)) { $0 << 8 | UInt32($1) } == credentials.registrationID)
        #expect(data.eKeytype == Data([0x05]))
        #expect(Array(data.eIdent) == credentials.identityKey.publicKey)
        #expect(data.eSkeyID == Data([0, 0, 1]))
        #expect(Array(data.eSkeyVal) == credentials.signedPreKey.keyPair.publicKey)
        #expect(data.eSkeySig.count == 64)
        #expect(data.buildHash.count == 16)
        #expect(XEdDSA.verify(Array(data.eSkeySig), of: [0x05] + Array(data.eSkeyVal), publicKey: Array(data.eIdent)))
        #expect(!payload.passive && !payload.pull)
    }

    /// Same lengths as whatsmeow's, and its own eSkeySig verifies under its eIdent.
    @Test(arguments: ["qr-conn1", "code-conn1"])
    func transcriptKeyMaterialHasTheSameLayout(name: String) throws {
        let theirs = try WAClientPayload(serializedBytes: try TranscriptPayload.load(name).raw).devicePairingData
        let ours = try WAClientPayload(serializedBytes: ClientPayloadBuilder.registration(credentials: .generate()))
            .devicePairingData
        for (mine, whatsmeow) in [
            (ours.eRegid, theirs.eRegid), (ours.eKeytype, theirs.eKeytype), (ours.eIdent, theirs.eIdent),
            (ours.eSkeyID, theirs.eSkeyID), (ours.eSkeyVal, theirs.eSkeyVal), (ours.eSkeySig, theirs.eSkeySig),
            (ours.buildHash, theirs.buildHash),
        ] {
            #expect(mine.count == whatsmeow.count)
        }
        #expect(ours.eKeytype == theirs.eKeytype && ours.eSkeyID == theirs.eSkeyID)
        #expect(XEdDSA.verify(Array(theirs.eSkeySig), of: [0x05] + Array(theirs.eSkeyVal), publicKey: Array(theirs.eIdent)))
    }

    /// buildHash is MD5 of "P.S.T": for whatsmeow's app version we produce whatsmeow's hash.
    @Test func buildHashMatchesWhatsmeowForTheSameVersion() throws {
        let transcript = try WAClientPayload(serializedBytes: try TranscriptPayload.load("qr-conn1").raw)
        let version = transcript.userAgent.appVersion
        let profile = ClientProfile(appVersion: .init(version.primary, version.secondary, version.tertiary))
        let ours = try WAClientPayload(
            serializedBytes: ClientPayloadBuilder.registration(credentials: .generate(), profile: profile))
        #expect(ours.devicePairingData.buildHash == transcript.devicePairingData.buildHash)
        #expect(ours.userAgent.appVersion == transcript.userAgent.appVersion)
    }

    @Test func profileValuesLandWhereTheyBelong() throws {
        let profile = ClientProfile(
            appVersion: .init(2, 3000, 1), osName: "walink test", osVersion: .init(6, 1, 2), platformType: .firefox,
            language: "pt", country: "BR")
        let payload = try WAClientPayload(
            serializedBytes: ClientPayloadBuilder.registration(credentials: .generate(), profile: profile))
        #expect(payload.userAgent.platform == .web && payload.userAgent.device == "Desktop")
        #expect(payload.userAgent.osVersion == "6.1.2" && payload.userAgent.osBuildNumber == "6.1.2")
        #expect(payload.userAgent.localeLanguageIso6391 == "pt" && payload.userAgent.localeCountryIso31661Alpha2 == "BR")
        #expect(payload.devicePairingData.buildHash == Data(Insecure.MD5.hash(data: Data("2.3000.1".utf8))))
        let props = try WADeviceProps(serializedBytes: payload.devicePairingData.deviceProps)
        #expect(props.os == "walink test" && props.platformType == .firefox)
        #expect(props.version.primary == 6 && props.version.secondary == 1 && props.version.tertiary == 2)
        #expect(props.hasRequireFullSync && !props.requireFullSync)

        let defaults = try WADeviceProps(
            serializedBytes: try WAClientPayload(
                serializedBytes: ClientPayloadBuilder.registration(credentials: .generate())
            ).devicePairingData.deviceProps)
        #expect(defaults.os == "Linux" && defaults.platformType == .chrome)
    }
}
