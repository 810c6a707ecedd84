import Foundation
import Store

extension Session {
    /// The session as commands answer it.
    var json: JSONValue {
        var object: JSONObject = [
            "session": .string(id),
            "name": name.map(JSONValue.string) ?? .null,
            "status": .string(status.rawValue),
            "createdAt": .string(createdAt.walinkTimestamp),
            "updatedAt": .string(updatedAt.walinkTimestamp),
        ]
        object["pairedAt"] = pairedAt.map { .string($0.walinkTimestamp) } ?? .null
        return .object(object)
    }

    /// `session.me`: the linked account, once paired.
    var identityJSON: JSONValue? {
        guard let identity, let pairedAt else { return nil }
        return [
            "jid": .string(identity.jid),
            "lid": identity.lid.map(JSONValue.string) ?? .null,
            "deviceId": .int(Int64(identity.deviceID)),
            "pushName": identity.pushName.map(JSONValue.string) ?? .null,
            "phone": identity.phone.map(JSONValue.string) ?? .null,
            "platform": identity.platform.map(JSONValue.string) ?? .null,
            "pairedAt": .string(pairedAt.walinkTimestamp),
        ]
    }
}

extension Date {
    /// RFC 3339 in UTC with milliseconds, e.g. `2026-11-25T09:30:00.123Z`.
    public var walinkTimestamp: String {
        formatted(
            .iso8601.year().month().day().dateSeparator(.dash).time(includingFractionalSeconds: true).timeSeparator(.colon).timeZone(
                separator: .omitted))
    }
}
