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
        switch try await links.location(of: session, start: true) {
        case .remote(let worker)?:
            return .forward(to: worker)
        case .local(let link)?:
            guard let qr = link.currentQR else { throw GatewayError.qrFollows }
            return CommandResult(body: [
                "qr": .string(qr.code), "seq": .int(Int64(qr.sequence)),
                "expiresAt": qr.expiresAt.map { .string($0.walinkTimestamp) } ?? .null,
            ])
        case nil:
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
        let link: LinkManager.ActiveLink
        switch try await links.location(of: session, start: true) {
        case .remote(let worker)?: return .forward(to: worker)
        case .local(let local)?: link = local
        case nil: throw GatewayError(.unavailable, "pairing could not start; try again")
        }
        let push = request.parameters["pushNotification"] != .bool(false)
        let code: PairingCode
        do {
            code = try await link.client.requestPairingCode(phone: phone, showPushNotification: push)
        } catch {
            throw Self.gatewayError(error)
        }
        // A live code comes back as it is: same expiry, no second auth.code event.
        let lifetime = links.configuration.link.pairingCodeLifetime.seconds
        let (expiresAt, isNew) = link.recordIssuedCode(code.display, lifetime: lifetime)
        if isNew {
            await links.events.publish(
                "auth.code", organization: session.organization, session: session.id,
                data: [
                    "status": "issued", "code": .string(code.display), "phone": .string(phone.digits),
                    "expiresAt": .string(expiresAt.walinkTimestamp),
                ], expiresAt: expiresAt)
        }
        return CommandResult(body: ["code": .string(code.display), "expiresAt": .string(expiresAt.walinkTimestamp)])
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

    /// WhatsApp's refusals, as callers can act on them.
    static func gatewayError(_ error: LinkError) -> GatewayError {
        var details: JSONObject = [:]
        if let serverCode = error.serverCode { details["whatsappCode"] = .int(Int64(serverCode)) }
        if let serverText = error.serverText { details["whatsappText"] = .string(serverText) }
        switch error.code {
        case .rateLimited:
            let seconds = max(1, Int((error.retryAfter?.seconds ?? 60).rounded(.up)))
            details["retryAfter"] = .int(Int64(seconds))
            return GatewayError(.rateLimited, "WhatsApp refuses new pairing codes for now; retry after \(seconds) s", details: details)
        case .featureNotAvailable:
            details["reason"] = "feature_not_available"
            return GatewayError(.upstreamError, "WhatsApp does not offer pairing codes for this number now; use the QR code", details: details)
        case .alreadyPaired:
            return .alreadyPaired
        case .numberConflict:
            return GatewayError(.conflict, "a pairing code for another number is live on this session; wait for it to expire", details: details)
        case .timeout:
            return GatewayError(.upstreamTimeout, "WhatsApp did not answer in time; try again", details: details)
        case .sessionEnded, .cancelled:
            return GatewayError(.unavailable, "the pairing connection ended; try again", details: details)
        default:
            details["reason"] = .string(error.code.description)
            return GatewayError(.upstreamError, "WhatsApp refused the pairing code request", details: details)
        }
    }
}

extension GatewayError {
    static let alreadyPaired = GatewayError(.validationError, "session is already paired", details: ["field": "session", "reason": "already paired"])
    static let qrFollows = GatewayError(
        .notFound, "pairing started; the code follows as an auth.qr event", details: ["status": "pairing"]
    )
}
