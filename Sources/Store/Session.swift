import Foundation

/// Where a session is in its life. Stored as the raw text, so new cases need no migration.
public enum SessionStatus: String, Sendable, Hashable, CaseIterable {
    /// Created, nothing started yet.
    case created
    /// A linking attempt (QR or pairing code) is running.
    case pairing
    /// Linked to a phone: the session has an identity and device credentials.
    case paired
    /// The last linking attempt failed or timed out.
    case failed
    /// The phone removed the device, or the session was unpaired.
    case loggedOut = "logged_out"
}

/// The WhatsApp account a session is linked to, as pair-success reports it.
public struct SessionIdentity: Sendable, Hashable {
    /// The device's phone-number JID, e.g. `628123456789:12@s.whatsapp.net`.
    public var jid: String
    /// The device's LID (`...@lid`) when WhatsApp sent one.
    public var lid: String?
    /// The linked-device number WhatsApp assigned.
    public var deviceID: Int
    public var pushName: String?
    /// Digits only, international, no `+`.
    public var phone: String?
    /// The platform the phone reported (`android`, `smba`, ...).
    public var platform: String?
    /// The business name of a WhatsApp Business account.
    public var businessName: String?

    public init(
        jid: String, lid: String? = nil, deviceID: Int, pushName: String? = nil, phone: String? = nil, platform: String? = nil,
        businessName: String? = nil
    ) {
        self.jid = jid
        self.lid = lid
        self.deviceID = deviceID
        self.pushName = pushName
        self.phone = phone
        self.platform = platform
        self.businessName = businessName
    }
}

/// One session of an organization. `identity` and `pairedAt` are set exactly when `status` is
/// `.paired`; the device credentials are stored beside it and read with `credentials(...)`.
public struct Session: Sendable, Hashable {
    public var organization: String
    public var id: String
    public var name: String?
    public var status: SessionStatus
    public var createdAt: Date
    public var updatedAt: Date
    public var identity: SessionIdentity?
    /// When `markPaired` stored the identity (the store's clock).
    public var pairedAt: Date?

    public init(
        organization: String, id: String, name: String?, status: SessionStatus, createdAt: Date, updatedAt: Date, identity: SessionIdentity? = nil,
        pairedAt: Date? = nil
    ) {
        self.organization = organization
        self.id = id
        self.name = name
        self.status = status
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.identity = identity
        self.pairedAt = pairedAt
    }

    /// Prefix of generated session ids.
    public static let generatedIDPrefix = "sess_"
}

/// One page of `listSessions`: sessions in creation order and the cursor of the next page
/// (nil on the last page).
public struct SessionPage: Sendable, Hashable {
    public var sessions: [Session]
    public var nextCursor: String?

    public init(sessions: [Session], nextCursor: String?) {
        self.sessions = sessions
        self.nextCursor = nextCursor
    }

    /// Page sizes `listSessions` accepts.
    public static let limits = 1...100

    /// The page of `limit` sessions from `fetched`, the sessions after the cursor in page order of
    /// which at most `limit + 1` are needed: one more than the page tells that another page follows.
    package init(fetched: [Session], limit: Int) {
        guard fetched.count > limit else {
            self.init(sessions: fetched, nextCursor: nil)
            return
        }
        let page = Array(fetched.prefix(limit))
        let last = page[page.count - 1]
        self.init(sessions: page, nextCursor: SessionCursor(createdMilliseconds: last.createdAt.storeMilliseconds, id: last.id).encoded)
    }
}

/// The position after the last session of a page: its creation time and id. Opaque to callers
/// (base64url of `v1:<milliseconds>:<id>`); pages continue strictly after it, so sessions created
/// while a caller pages through never shift the pages already read.
package struct SessionCursor: Sendable, Hashable {
    package var createdMilliseconds: Int64
    package var id: String

    var encoded: String {
        let raw = Data("v1:\(createdMilliseconds):\(id)".utf8).base64EncodedString()
        return String(raw.map { $0 == "+" ? "-" : $0 == "/" ? "_" : $0 }.filter { $0 != "=" })
    }

    init(createdMilliseconds: Int64, id: String) {
        self.createdMilliseconds = createdMilliseconds
        self.id = id
    }

    package init(decoding cursor: String) throws(StoreError) {
        let invalid = StoreError(.invalidArgument, "cursor is not one this store returned")
        var base64 = String(cursor.map { $0 == "-" ? "+" : $0 == "_" ? "/" : $0 })
        guard cursor.utf8.count <= 200 else { throw invalid }
        while base64.utf8.count % 4 != 0 { base64.append("=") }
        guard let data = Data(base64Encoded: base64),
            let text = String(data: data, encoding: .utf8)
        else { throw invalid }
        let parts = text.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "v1", let milliseconds = Int64(parts[1]),
            StoreValidation.isValidSessionID(String(parts[2]))
        else { throw invalid }
        self.createdMilliseconds = milliseconds
        self.id = String(parts[2])
    }
}
