// The types the API's signatures use, so that `import BFFN` is all an app writes: errors and JSON values
// (BFFNCore), stop reasons (BFFNEngine), drafters and draft shapes (BFFNSpeculative), chat messages and tokenizers
// (BFFNTokenizer), activation precision (BFFNKernels), chat templates (BFFNChatTemplate).
@_exported import BFFNChatTemplate
@_exported import BFFNCore
@_exported import BFFNEngine
@_exported import BFFNKernels
@_exported import BFFNSpeculative
@_exported import BFFNTokenizer
