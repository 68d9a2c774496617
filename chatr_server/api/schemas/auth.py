"""Request and response schemas of ``/api/auth``."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from chatr_server.api.schemas.common import Str, complete

_SHORT = validate.Length(max=256)


class RegisterSchema(Schema):
    email = Str(validate=_SHORT)
    phoneNumber = Str(validate=validate.Length(max=32))
    username = Str(validate=validate.Length(max=64))
    password = Str(validate=validate.Length(max=256))
    firstName = Str(validate=_SHORT)
    lastName = Str(validate=_SHORT)
    gender = Str(validate=validate.Length(max=32))


class RegisterResponseSchema(Schema):
    message = fields.String()
    userId = fields.UUID()
    requiresEmailVerification = fields.Boolean()


class LoginSchema(Schema):
    email = Str(validate=_SHORT, metadata={"description": "Email or username"})
    password = Str(validate=validate.Length(max=256))
    loginVerificationCode = Str(validate=validate.Length(max=16))
    verificationMethod = Str(validate=validate.Length(max=16))
    twoFactorCode = fields.Raw(load_default=None, allow_none=True)


@complete()
class LoginUserSchema(Schema):
    id = fields.UUID()
    email = fields.String(allow_none=True)
    username = fields.String()
    displayName = fields.String(allow_none=True)
    firstName = fields.String(allow_none=True)
    lastName = fields.String(allow_none=True)
    createdAt = fields.String()
    emailVerified = fields.Boolean()
    isSupport = fields.Boolean()


class LoginResponseSchema(Schema):
    message = fields.String()
    token = fields.String(metadata={"description": "Present when login completed"})
    user = fields.Nested(LoginUserSchema)
    userId = fields.UUID(metadata={"description": "Present when a verification step follows"})
    requiresEmailVerification = fields.Boolean()
    requiresPhoneVerification = fields.Boolean()
    requiresLoginVerification = fields.Boolean()
    verificationMethod = fields.String()


class VerifyCodeSchema(Schema):
    userId = Str(validate=validate.Length(max=64))
    code = Str(validate=validate.Length(max=16))


@complete()
class VerifiedUserSchema(Schema):
    id = fields.UUID()
    email = fields.String(allow_none=True)
    phoneNumber = fields.String(allow_none=True)
    username = fields.String()
    emailVerified = fields.Boolean()
    phoneVerified = fields.Boolean()
    isSupport = fields.Boolean()


class VerifyResponseSchema(Schema):
    message = fields.String()
    token = fields.String()
    user = fields.Nested(VerifiedUserSchema)
    requiresPhoneVerification = fields.Boolean()
    phoneNumber = fields.String()
    userId = fields.UUID()


class ResendVerificationSchema(Schema):
    userId = Str(validate=validate.Length(max=64))
    type = Str(validate=validate.Length(max=16), metadata={"description": "email | login"})


@complete()
class TwoFactorSetupResponseSchema(Schema):
    secret = fields.String(metadata={"description": "Base32 TOTP secret"})
    qrCode = fields.String(metadata={"description": "PNG data URL of the otpauth URL"})
    otpauth = fields.String()


class TwoFactorVerifySchema(Schema):
    code = Str(validate=validate.Length(max=16), metadata={"description": "Current TOTP code"})


@complete()
class TwoFactorUserSchema(Schema):
    id = fields.UUID()
    email = fields.String(allow_none=True)
    username = fields.String()
    createdAt = fields.String()
    twoFactorEnabled = fields.Boolean()
    isSupport = fields.Boolean()


class TwoFactorVerifyResponseSchema(Schema):
    message = fields.String()
    token = fields.String()
    user = fields.Nested(TwoFactorUserSchema)


class ForgotPasswordSchema(Schema):
    email = Str(validate=_SHORT)


class ResetPasswordSchema(Schema):
    email = Str(validate=_SHORT, metadata={"description": "The address the code was sent to"})
    code = Str(validate=validate.Length(max=16), metadata={"description": "The emailed code"})
    newPassword = Str(validate=validate.Length(max=256))
    password = Str(
        validate=validate.Length(max=256), metadata={"description": "Alias of newPassword"}
    )
