import WhatsAppLink

extension GatewayError {
    /// WhatsApp's refusal of a pairing-code request (or the link's end), as callers can act on it.
    init(pairingCodeRefusal error: LinkError) {
        var details: JSONObject = [:]
        if let serverCode = error.serverCode { details["whatsappCode"] = .int(Int64(serverCode)) }
        if let serverText = error.serverText { details["whatsappText"] = .string(serverText) }
        switch error.code {
        case .rateLimited:
            let seconds = max(1, Int((error.retryAfter?.seconds ?? 60).rounded(.up)))
            details["retryAfter"] = .int(Int64(seconds))
            self = GatewayError(.rateLimited, "WhatsApp refuses new pairing codes for now; retry after \(seconds) s", details: details)
        case .featureNotAvailable:
            details["reason"] = "feature_not_available"
            self = GatewayError(.upstreamError, "WhatsApp does not offer pairing codes for this number now; use the QR code", details: details)
        case .alreadyPaired:
            self = .alreadyPaired
        case .numberConflict:
            self = GatewayError(.conflict, "a pairing code for another number is live on this session; wait for it to expire", details: details)
        case .timeout:
            self = GatewayError(.upstreamTimeout, "WhatsApp did not answer in time; try again", details: details)
        case .sessionEnded, .cancelled:
            self = GatewayError(.unavailable, "the pairing connection ended; try again", details: details)
        default:
            details["reason"] = .string(error.code.description)
            self = GatewayError(.upstreamError, "WhatsApp refused the pairing code request", details: details)
        }
    }
}
