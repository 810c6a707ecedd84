import AMQP

/// Where an answer goes: the caller's `reply_to` (Direct Reply-to or an ordinary queue), the
/// `walink.results` exchange for a command without `reply_to` that ran, or nowhere — a refused
/// command nobody waits for is dead-lettered whole instead.
enum ReplyRoute: Sendable, Equatable {
    case replyTo(queue: String, direct: Bool)
    case results(routingKey: String)
    case deadLetter

    init(replyTo: String?, answer: CommandAnswer, command: String?, names: WalinkNames) {
        if let replyTo, !replyTo.isEmpty {
            self = .replyTo(queue: replyTo, direct: replyTo.hasPrefix("amq.rabbitmq.reply-to"))
        } else if answer.handled {
            self = .results(routingKey: "\(answer.organization ?? "-").\(answer.session ?? "-").\(command ?? "-")")
        } else {
            self = .deadLetter
        }
    }

    /// What to publish for `answer`, or nil for ``deadLetter``.
    struct Publication: Sendable {
        var message: AMQPMessage
        var exchange: String
        var routingKey: String
        var mandatory: Bool
    }

    func publication(of answer: CommandAnswer, envelope: CommandEnvelope, resultsExchange: String) -> Publication? {
        var headers: AMQPTable = ["status": .int32(Int32(answer.status))]
        switch self {
        case .replyTo(let queue, let direct):
            let properties = AMQPProperties(
                contentType: "application/json", headers: headers,
                deliveryMode: direct ? AMQPProperties.transientDeliveryMode : AMQPProperties.persistentDeliveryMode,
                correlationID: envelope.correlationID, messageID: envelope.messageID
            )
            // Direct Reply-to on 3.10 answers mandatory publishes with a spurious return.
            return Publication(
                message: AMQPMessage(body: answer.body.serialized, properties: properties), exchange: "", routingKey: queue,
                mandatory: !direct)
        case .results(let routingKey):
            headers["command"] = .string(envelope.command ?? "")
            let properties = AMQPProperties(
                contentType: "application/json", headers: headers, deliveryMode: AMQPProperties.persistentDeliveryMode,
                correlationID: envelope.correlationID, messageID: envelope.messageID
            )
            return Publication(
                message: AMQPMessage(body: answer.body.serialized, properties: properties), exchange: resultsExchange,
                routingKey: routingKey, mandatory: false)
        case .deadLetter:
            return nil
        }
    }
}
