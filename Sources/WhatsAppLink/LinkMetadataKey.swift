/// The metadata keys of WhatsAppLink's log lines, in one place (walink's `walink.*` convention).
enum LinkMetadataKey {
    static let closeCode = "walink.close_code"
    static let connection = "walink.connection"
    static let error = "walink.error"
    static let forceManual = "walink.force_manual"
    static let iqID = "walink.iq_id"
    static let iqType = "walink.iq_type"
    static let notificationType = "walink.notification_type"
    static let reason = "walink.reason"
    static let refIndex = "walink.ref_index"
    static let refs = "walink.refs"
    static let serverCode = "walink.server_code"
    static let size = "walink.size"
    static let stanzaID = "walink.stanza_id"
    static let tag = "walink.tag"
}
