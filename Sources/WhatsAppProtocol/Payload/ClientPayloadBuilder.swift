import Crypto
import Foundation
import SwiftProtobuf

/// Builds the serialized ClientPayload that Noise message 3 carries: a registration payload while the
/// device has no account yet, a login payload once paired. Sections 2.1–2.5 of whatsapp-linking-protocol.md.
public enum ClientPayloadBuilder {
    /// The payload of a connection that registers `credentials` as a new companion (QR or pairing code).
    public static func registration(credentials: DeviceCredentials, profile: ClientProfile = ClientProfile()) -> [UInt8] {
        var payload = base(profile)
        payload.passive = false
        payload.pull = false

        var pairing = WAClientPayload.DevicePairingRegistrationData()
        pairing.eRegid = Data(bigEndian(credentials.registrationID, bytes: 4))
        pairing.eKeytype = Data([DJBKey.typeByte])
        pairing.eIdent = Data(credentials.identityKey.publicKey)
        pairing.eSkeyID = Data(bigEndian(credentials.signedPreKey.id, bytes: 3))
        pairing.eSkeyVal = Data(credentials.signedPreKey.keyPair.publicKey)
        pairing.eSkeySig = Data(credentials.signedPreKey.signature)
        pairing.buildHash = Data(Insecure.MD5.hash(data: Data(profile.appVersion.description.utf8)))
        pairing.deviceProps = Data(serialize(deviceProps(profile)))
        payload.devicePairingData = pairing
        return serialize(payload)
    }

    /// The payload of a connection that logs in as the paired device `username:device` (the phone number of
    /// the account and the device id from pair-success).
    public static func login(username: UInt64, device: UInt32, profile: ClientProfile = ClientProfile()) -> [UInt8] {
        var payload = base(profile)
        payload.username = username
        payload.device = device
        payload.passive = true
        payload.pull = true
        payload.lidDbMigrated = true
        payload.lc = 1
        return serialize(payload)
    }

    // MARK: - Parts

    /// Fields common to both modes (2.1, 2.2).
    private static func base(_ profile: ClientProfile) -> WAClientPayload {
        var agent = WAClientPayload.UserAgent()
        agent.platform = .web
        agent.appVersion.primary = profile.appVersion.primary
        agent.appVersion.secondary = profile.appVersion.secondary
        agent.appVersion.tertiary = profile.appVersion.tertiary
        agent.mcc = "000"
        agent.mnc = "000"
        agent.osVersion = profile.osVersion.description
        agent.manufacturer = ""
        agent.device = "Desktop"
        agent.osBuildNumber = profile.osVersion.description
        agent.releaseChannel = .release
        agent.localeLanguageIso6391 = profile.language
        agent.localeCountryIso31661Alpha2 = profile.country

        var payload = WAClientPayload()
        payload.userAgent = agent
        payload.webInfo.webSubPlatform = .webBrowser
        payload.connectType = .wifiUnknown
        payload.connectReason = .userActivated
        return payload
    }

    /// DeviceProps (2.5) with whatsmeow's history-sync capabilities; full sync is not requested.
    private static func deviceProps(_ profile: ClientProfile) -> WADeviceProps {
        var props = WADeviceProps()
        props.os = profile.osName
        props.version.primary = profile.osVersion.primary
        props.version.secondary = profile.osVersion.secondary
        props.version.tertiary = profile.osVersion.tertiary
        props.platformType = profile.platformType
        props.requireFullSync = false

        var sync = WADeviceProps.HistorySyncConfig()
        sync.storageQuotaMb = 10240
        sync.inlineInitialPayloadInE2EeMsg = true
        sync.supportCallLogHistory = true
        sync.supportBotUserAgentChatHistory = true
        sync.supportCagReactionsAndPolls = true
        sync.supportBizHostedMsg = true
        sync.supportRecentSyncChunkMessageCountTuning = true
        sync.supportHostedGroupMsg = true
        sync.supportFbidBotChatHistory = true
        sync.supportMessageAssociation = true
        sync.supportGroupHistory = true
        sync.thumbnailSyncDaysLimit = 60
        sync.supportManusHistory = true
        sync.supportHatchHistory = true
        props.historySyncConfig = sync
        return props
    }

    private static func bigEndian(_ value: UInt32, bytes count: Int) -> [UInt8] {
        (0..<count).reversed().map { UInt8(truncatingIfNeeded: value >> (8 * UInt32($0))) }
    }

    private static func serialize(_ message: some SwiftProtobuf.Message) -> [UInt8] {
        // These messages have no required fields, so serialization cannot fail.
        try! message.serializedBytes()
    }
}
