import AMQP
import Gateway

extension AMQPProperties {
    /// The properties as the JSON object `schemas/amqp/*-message.schema.json` describe.
    public var jsonValue: JSONValue {
        var object = JSONObject()
        if let contentType { object["content_type"] = .string(contentType) }
        if let correlationID { object["correlation_id"] = .string(correlationID) }
        if let messageID { object["message_id"] = .string(messageID) }
        if let replyTo { object["reply_to"] = .string(replyTo) }
        if let expiration { object["expiration"] = .string(expiration) }
        if let type { object["type"] = .string(type) }
        if let deliveryMode { object["delivery_mode"] = .int(Int64(deliveryMode)) }
        if let headers {
            var table = JSONObject()
            for (key, value) in headers {
                if let text = value.stringValue {
                    table[key] = .string(text)
                } else if let number = value.intValue {
                    table[key] = .int(Int64(number))
                } else if case .bool(let flag) = value {
                    table[key] = .bool(flag)
                }
            }
            object["headers"] = .object(table)
        }
        return .object(object)
    }
}
