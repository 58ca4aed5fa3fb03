import BFFNCore

extension ExpertCacheSimulator.Result {
    /// One policy's row in `bffn trace --simulate --json` (docs/json.md, "trace (simulate)"): `policy`, `accesses`, `hits`,
    /// `hit_rate`, `bytes_read`, `bytes_per_token`.
    public var json: JSONValue {
        .object([("policy", .string(policy.rawValue)), ("accesses", .integer(accesses)), ("hits", .integer(hits)),
                 ("hit_rate", .double(hitRate)), ("bytes_read", .integer(bytesRead)), ("bytes_per_token", .double(bytesPerToken))])
    }
}

extension ExpertCacheSimulator {
    /// Every policy replayed at each of several budgets (`bffn trace --simulate`).
    public struct Report: Sendable {
        /// One budget: its label as given (`50%`, `8M`), its bytes, the whole expert blocks it holds, and one result
        /// per policy in `Policy.allCases` order.
        public struct Row: Sendable {
            public var label: String, bytes: Int, capacityBlocks: Int, results: [Result]
        }
        /// The trace's file, and the trace itself.
        public var path: String, trace: RoutingTrace
        public var rows: [Row]
        /// Bytes of all expert blocks of the model.
        public var totalExpertBytes: Int { trace.layers * trace.experts * trace.expertBytes }

        /// Replays `trace` (read from `path`) through every policy at each budget (label, bytes).
        public init(path: String, trace: RoutingTrace, budgets: [(label: String, bytes: Int)]) {
            self.path = path
            self.trace = trace
            rows = budgets.map { b in
                let capacity = b.bytes / trace.expertBytes
                return Row(label: b.label, bytes: b.bytes, capacityBlocks: capacity,
                           results: Policy.allCases.map { simulate(trace, capacity: capacity, policy: $0) })
            }
        }

        /// `bffn trace --simulate --json` (docs/json.md, "trace (simulate)").
        public var json: JSONValue {
            .object([("trace", .string(path)), ("tokens", .integer(trace.tokenCount)), ("layers", .integer(trace.layers)),
                     ("experts", .integer(trace.experts)), ("expert_bytes", .integer(trace.expertBytes)),
                     ("expert_bytes_total", .integer(totalExpertBytes)),
                     ("budgets", .array(rows.map { r in
                         .object([("budget", .string(r.label)), ("budget_bytes", .integer(r.bytes)), ("capacity_blocks", .integer(r.capacityBlocks)),
                                  ("policies", .array(r.results.map(\.json)))])
                     }))])
        }

        /// The table `bffn trace --simulate` prints: one line per budget and policy.
        public var text: String {
            var text = "trace \(path): \(trace.tokenCount) tokens, \(trace.layers) layers x \(trace.experts) experts, \(TextNumber.bytesWithSize(UInt64(trace.expertBytes))) per expert block, \(TextNumber.bytesWithSize(UInt64(totalExpertBytes))) of experts\n"
            text += "  budget        blocks  policy             hit rate   read per token\n"
            for row in rows {
                for r in row.results {
                    text += "  " + row.label.padding(toLength: 12) + "  " + String(row.capacityBlocks).padding(toLength: 6) + "  " + r.policy.rawValue.padding(toLength: 17)
                    text += "  " + (TextNumber.fixed(r.hitRate * 100, 2) + " %").padding(toLength: 9) + "  " + TextNumber.bytesWithSize(UInt64(r.bytesPerToken)) + "\n"
                }
            }
            return text
        }
    }
}

extension RoutingTrace {
    /// `bffn trace --json` after recording into `output` (docs/json.md, "trace").
    public func json(output: String) -> JSONValue {
        .object([("output", .string(output)), ("sequences", .integer(sequenceStarts.count)), ("tokens", .integer(tokenCount)),
                 ("layers", .integer(layers)), ("experts", .integer(experts)), ("expert_bytes", .integer(expertBytes))])
    }
}
