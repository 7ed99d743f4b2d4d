"""The starter templates ``manage.py load_templates`` loads: welcome, password reset, order update.

Email templates and their push counterparts (``<code>_push``) in English, Portuguese and Spanish.
"""

from message_templates.models import Channel

_WELCOME_HTML = {
    "en": '<h1>Welcome, {{ name }}!</h1><p>Your account is ready. <a href="{{ link }}">Get started</a>.</p>',
    "pt": '<h1>Bem-vindo, {{ name }}!</h1><p>Sua conta está pronta. <a href="{{ link }}">Comece agora</a>.</p>',
    "es": '<h1>¡Bienvenido, {{ name }}!</h1><p>Tu cuenta está lista. <a href="{{ link }}">Empieza ahora</a>.</p>',
}

STARTER_TEMPLATES = [
    {
        "code": "welcome",
        "category": "transactional",
        "channel": Channel.EMAIL,
        "default_language": "en",
        "description": "Sent once after registration.",
        "versions": [
            {
                "language": "en",
                "subject": "Welcome, {{ name }}!",
                "text_body": "Hi {{ name }},\n\nYour account is ready. Get started: {{ link }}\n",
                "html_body": _WELCOME_HTML["en"],
            },
            {
                "language": "pt",
                "subject": "Bem-vindo, {{ name }}!",
                "text_body": "Olá {{ name }},\n\nSua conta está pronta. Comece agora: {{ link }}\n",
                "html_body": _WELCOME_HTML["pt"],
            },
            {
                "language": "es",
                "subject": "¡Bienvenido, {{ name }}!",
                "text_body": "Hola {{ name }},\n\nTu cuenta está lista. Empieza ahora: {{ link }}\n",
                "html_body": _WELCOME_HTML["es"],
            },
        ],
    },
    {
        "code": "welcome_push",
        "category": "transactional",
        "channel": Channel.PUSH,
        "default_language": "en",
        "description": "Push counterpart of welcome.",
        "versions": [
            {
                "language": "en",
                "title": "Welcome, {{ name }}!",
                "body": "Your account is ready.",
                "data": {"screen": "home"},
            },
            {
                "language": "pt",
                "title": "Bem-vindo, {{ name }}!",
                "body": "Sua conta está pronta.",
                "data": {"screen": "home"},
            },
            {
                "language": "es",
                "title": "¡Bienvenido, {{ name }}!",
                "body": "Tu cuenta está lista.",
                "data": {"screen": "home"},
            },
        ],
    },
    {
        "code": "password_reset",
        "category": "security",
        "channel": Channel.EMAIL,
        "default_language": "en",
        "description": "A password reset link; expires after the given minutes.",
        "versions": [
            {
                "language": "en",
                "subject": "Reset your password",
                "text_body": (
                    "Hi {{ name }},\n\nReset your password here: {{ link }}\n"
                    "The link expires in {{ expires_in_minutes }} minutes. "
                    "If you did not ask for it, ignore this email.\n"
                ),
                "html_body": (
                    '<p>Hi {{ name }},</p><p><a href="{{ link }}">Reset your password</a>. '
                    "The link expires in {{ expires_in_minutes }} minutes.</p>"
                    "<p>If you did not ask for it, ignore this email.</p>"
                ),
            },
            {
                "language": "pt",
                "subject": "Redefina sua senha",
                "text_body": (
                    "Olá {{ name }},\n\nRedefina sua senha aqui: {{ link }}\n"
                    "O link expira em {{ expires_in_minutes }} minutos. Se não foi você, ignore este email.\n"
                ),
                "html_body": (
                    '<p>Olá {{ name }},</p><p><a href="{{ link }}">Redefina sua senha</a>. '
                    "O link expira em {{ expires_in_minutes }} minutos.</p>"
                    "<p>Se não foi você, ignore este email.</p>"
                ),
            },
            {
                "language": "es",
                "subject": "Restablece tu contraseña",
                "text_body": (
                    "Hola {{ name }},\n\nRestablece tu contraseña aquí: {{ link }}\n"
                    "El enlace caduca en {{ expires_in_minutes }} minutos. Si no lo pediste, ignora este correo.\n"
                ),
                "html_body": (
                    '<p>Hola {{ name }},</p><p><a href="{{ link }}">Restablece tu contraseña</a>. '
                    "El enlace caduca en {{ expires_in_minutes }} minutos.</p>"
                    "<p>Si no lo pediste, ignora este correo.</p>"
                ),
            },
        ],
    },
    {
        "code": "order_update",
        "category": "transactional",
        "channel": Channel.EMAIL,
        "default_language": "en",
        "description": "An order changed status.",
        "versions": [
            {
                "language": "en",
                "subject": "Order {{ order_id }}: {{ status }}",
                "text_body": "Hi {{ name }},\n\nYour order {{ order_id }} is now {{ status }}.\nTrack it: {{ link }}\n",
                "html_body": (
                    "<p>Hi {{ name }},</p><p>Your order <strong>{{ order_id }}</strong> is now {{ status }}.</p>"
                    '<p><a href="{{ link }}">Track your order</a></p>'
                ),
            },
            {
                "language": "pt",
                "subject": "Pedido {{ order_id }}: {{ status }}",
                "text_body": (
                    "Olá {{ name }},\n\nSeu pedido {{ order_id }} agora está {{ status }}.\nAcompanhe: {{ link }}\n"
                ),
                "html_body": (
                    "<p>Olá {{ name }},</p><p>Seu pedido <strong>{{ order_id }}</strong> agora está {{ status }}.</p>"
                    '<p><a href="{{ link }}">Acompanhe seu pedido</a></p>'
                ),
            },
            {
                "language": "es",
                "subject": "Pedido {{ order_id }}: {{ status }}",
                "text_body": (
                    "Hola {{ name }},\n\nTu pedido {{ order_id }} ahora está {{ status }}.\nSíguelo: {{ link }}\n"
                ),
                "html_body": (
                    "<p>Hola {{ name }},</p><p>Tu pedido <strong>{{ order_id }}</strong> ahora está {{ status }}.</p>"
                    '<p><a href="{{ link }}">Sigue tu pedido</a></p>'
                ),
            },
        ],
    },
    {
        "code": "order_update_push",
        "category": "transactional",
        "channel": Channel.PUSH,
        "default_language": "en",
        "description": "Push counterpart of order_update.",
        "versions": [
            {
                "language": "en",
                "title": "Order {{ order_id }}",
                "body": "Your order is now {{ status }}.",
                "data": {"screen": "order", "order_id": "{{ order_id }}"},
            },
            {
                "language": "pt",
                "title": "Pedido {{ order_id }}",
                "body": "Seu pedido agora está {{ status }}.",
                "data": {"screen": "order", "order_id": "{{ order_id }}"},
            },
            {
                "language": "es",
                "title": "Pedido {{ order_id }}",
                "body": "Tu pedido ahora está {{ status }}.",
                "data": {"screen": "order", "order_id": "{{ order_id }}"},
            },
        ],
    },
]
