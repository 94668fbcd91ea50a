import Foundation

/// `POST /v1/embeddings` (and the Azure deployment route): deterministic vectors derived from each input's text.
enum OpenAIEmbeddings {
    static func body(model: String, request: ProviderRequest, dimensions defaultDimensions: Int) -> String {
        let dimensions = max(1, min(request.dimensions ?? defaultDimensions, 4096))
        var data: [String] = []
        data.reserveCapacity(request.embeddingInputs.count)
        for (index, input) in request.embeddingInputs.enumerated() {
            let vector = self.vector(for: input, dimensions: dimensions)
            let encoded: String
            if request.base64Embeddings {
                var bytes = Data(capacity: dimensions * 4)
                for value in vector {
                    withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
                }
                encoded = "\"" + bytes.base64EncodedString() + "\""
            } else {
                encoded = "[" + vector.map { String($0) }.joined(separator: ",") + "]"
            }
            data.append("{\"object\":\"embedding\",\"index\":\(index),\"embedding\":" + encoded + "}")
        }
        return "{\"object\":\"list\",\"data\":[" + data.joined(separator: ",") + "],\"model\":" + JSONText.quoted(model)
            + ",\"usage\":{\"prompt_tokens\":\(request.promptWords),\"total_tokens\":\(request.promptWords)}}"
    }

    /// A unit-length vector seeded by the FNV-1a hash of `text`: same text, same vector, on every run.
    static func vector(for text: String, dimensions: Int) -> [Float] {
        var state: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            state = (state ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        }
        var values: [Float] = []
        values.reserveCapacity(dimensions)
        for _ in 0..<dimensions {
            // xorshift64* keeps the sequence deterministic and cheap.
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            let sample = state &* 0x2545_F491_4F6C_DD1D
            values.append(Float(Double(sample >> 11) / Double(1 << 53)) * 2 - 1)
        }
        let norm = values.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return norm > 0 ? values.map { $0 / norm } : values
    }
}
