/// `GET /v1/models` in the OpenAI list shape, or Anthropic's when the request carries `anthropic-version`.
enum ModelList {
    static func body(models: [String], provider: Provider) -> String {
        switch provider {
        case .anthropic:
            let data = models.map {
                "{\"type\":\"model\",\"id\":" + JSONText.quoted($0) + ",\"display_name\":" + JSONText.quoted($0)
                    + ",\"created_at\":\"2025-01-01T00:00:00Z\"}"
            }
            return "{\"data\":[" + data.joined(separator: ",") + "],\"has_more\":false,\"first_id\":"
                + JSONText.quotedOrNull(models.first) + ",\"last_id\":" + JSONText.quotedOrNull(models.last) + "}"
        case .openAI, .azure:
            let data = models.map {
                "{\"id\":" + JSONText.quoted($0)
                    + ",\"object\":\"model\",\"created\":1735689600,\"owned_by\":\"airlock-mock\"}"
            }
            return "{\"object\":\"list\",\"data\":[" + data.joined(separator: ",") + "]}"
        }
    }
}
