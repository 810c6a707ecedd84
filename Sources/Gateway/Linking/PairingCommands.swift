import Foundation
import Store
import WhatsAppLink
import WhatsAppProtocol

/// `session.qr {"session"}` → `{"qr","seq","expiresAt"}` while a code is current. When nothing runs
/// it starts pairing and answers 404 ("the code follows as an auth.qr event"); already paired → 400.
struct SessionQR: CommandHandler {
    let links: LinkManager
    var name: String { "session.qr" }
    var parameters: ParameterSchema { ParameterSchema([.init("session", .string(), required: true)]) }
    var sessionRequirement: SessionRequirement { .existing }

    func handle(_ request: CommandRequest) async throws(GatewayError) -> CommandResult {
        let session = try request.requireSession()
        guard session.status != .paired else { throw GatewayError.alreadyPaired }
        switch try await links.currentQR(for: session) {
        case .forward(let worker):
            return .forward(toWorker: worker)
        case .here(let qr?):
            return CommandResult(body: ["qr": .string(qr.code), "seq": .int(Int64(qr.sequence)), "expiresAt": .string(qr.expiresAt.walinkTimestamp)])
        case .here(nil):
            throw GatewayError.qrFollows
        }
    }
}

/// `session.pairing-code {"session","phone","pushNotification"?}` → `{"code":"XXXX-XXXX","expiresAt"}`
/// once WhatsApp accepted the code. Reuses the session's running link (the QR one, if any).
struct SessionPairingCode: CommandHandler {
    let links: LinkManager
    var name: String { "session.pairing-code" }
    var parameters: ParameterSchema {
        ParameterSchema([
            .init("session", .string(), required: true),
            .init("phone", .string(maxLength: 32), required: true),
            .init("pushNotification", .boolean),
        ])
    }
    var sessionRequirement: SessionRequirement { .existing }

    func handle(_ request: CommandRequest) async throws(GatewayError) -> CommandResult {
        let session = try request.requireSession()
        let phone: PhoneNumber
        do {
            phone = try PhoneNumber(validating: request.parameters["phone"]?.stringValue ?? "")
        } catch {
            throw GatewayError.invalidField(
                "phone", Self.reason(error),
                extra: [
                    "minDigits": .int(Int64(PhoneNumber.minimumDigits)), "maxDigits": .int(Int64(PhoneNumber.maximumDigits)),
                ])
        }
        guard session.status != .paired else { throw GatewayError.alreadyPaired }
        let push = request.parameters["pushNotification"] != .bool(false)
        switch try await links.pairingCode(for: session, phone: phone, showPushNotification: push) {
        case .forward(let worker):
            return .forward(toWorker: worker)
        case .here(let issued):
            return CommandResult(body: ["code": .string(issued.code), "expiresAt": .string(issued.expiresAt.walinkTimestamp)])
        }
    }

    static func reason(_ error: PhoneNumberError) -> String {
        switch error.code {
        case .empty: "required: digits of the international number"
        case .leadingPlus: "digits only, without the leading +"
        case .nonDigit: "digits only: no spaces, dashes or brackets"
        case .leadingZero: "must start with the country code, not 0"
        case .tooShort: "too short for an international number (at least \(PhoneNumber.minimumDigits) digits)"
        case .tooLong: "too long for an international number (at most \(PhoneNumber.maximumDigits) digits)"
        default: "not a valid international number"
        }
    }
}

extension GatewayError {
    static let alreadyPaired = GatewayError(.validationError, "session is already paired", details: ["field": "session", "reason": "already paired"])
    static let qrFollows = GatewayError(
        .notFound, "pairing started; the code follows as an auth.qr event", details: ["status": "pairing"]
    )
}
