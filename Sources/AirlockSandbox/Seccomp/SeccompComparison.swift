import CSeccomp

enum SeccompComparison {
    /// OCI `op`, `value`, `valueTwo` → libseccomp's comparison; MASKED_EQ takes value as the mask and valueTwo as
    /// the expected result, as in runc.
    static func make(_ arg: OCISeccompProfile.Argument, location: String) throws(SeccompProfileError)
        -> (scmp_arg_cmp, String)
    {
        let ops: [String: (scmp_compare, String)] = [
            "SCMP_CMP_NE": (SCMP_CMP_NE, "!="), "SCMP_CMP_LT": (SCMP_CMP_LT, "<"), "SCMP_CMP_LE": (SCMP_CMP_LE, "<="),
            "SCMP_CMP_EQ": (SCMP_CMP_EQ, "=="), "SCMP_CMP_GE": (SCMP_CMP_GE, ">="), "SCMP_CMP_GT": (SCMP_CMP_GT, ">"),
            "SCMP_CMP_MASKED_EQ": (SCMP_CMP_MASKED_EQ, "&"),
        ]
        guard let (op, symbol) = ops[arg.op] else {
            throw SeccompProfileError(code: .unknownOperator, location: location,
                                      message: "'\(arg.op)'; known: \(ops.keys.sorted().joined(separator: ", "))")
        }
        let hex = { (v: UInt64) in "0x" + String(v, radix: 16) }
        let text = op == SCMP_CMP_MASKED_EQ
            ? "(arg\(arg.index) & \(hex(arg.value))) == \(hex(arg.valueTwo ?? 0))"
            : "arg\(arg.index) \(symbol) \(hex(arg.value))"
        let comparison = scmp_arg_cmp(arg: arg.index, op: op, datum_a: arg.value, datum_b: arg.valueTwo ?? 0)
        return (comparison, text)
    }
}
