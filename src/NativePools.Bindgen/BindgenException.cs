using System;

namespace NativePools.Bindgen;

/// <summary>A problem in the C# ABI declarations that stops generation; the message says what to fix.</summary>
public sealed class BindgenException(string message) : Exception(message);
