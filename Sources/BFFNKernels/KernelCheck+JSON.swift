import BFFNCore

extension KernelCheckResult {
    /// One check as `bffn kernels --json` spells it (docs/json.md): `products`, `instruction_set`, `outputs`,
    /// `differing`, `passed`.
    public var json: JSONValue {
        .object([("products", .string(products)), ("instruction_set", .string(instructionSet)),
                 ("outputs", .integer(outputs)), ("differing", .integer(differing)), ("passed", .bool(passed))])
    }
}

extension KernelCheck {
    /// `bffn kernels --json` for `results` (docs/json.md): `int8_instruction_set` and `bf16_instruction_set` (in
    /// use now), `checks` (each result's `json`), and `passed` (every check passed).
    public static func json(_ results: [KernelCheckResult]) -> JSONValue {
        .object([
            ("int8_instruction_set", .string(IntegerDot.instructionSet)),
            ("bf16_instruction_set", .string(BF16Dot.instructionSet)),
            ("checks", .array(results.map(\.json))),
            ("passed", .bool(results.allSatisfy(\.passed))),
        ])
    }
}
