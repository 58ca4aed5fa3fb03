import BFFNCheckpoint

extension Checkpoint {
    /// Recognises the model this checkpoint holds (see `ModelRecognizer`).
    /// - Throws: `ModelRecognizer.recognize`'s errors, naming the checkpoint's file.
    public func recognize() throws -> ModelRecognizer.Result {
        try ModelRecognizer.recognize(tensors: tensors, config: config, file: primaryFile)
    }
}
