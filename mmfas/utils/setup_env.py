import datetime
import warnings

from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every mmfas module so that it fills the registries, and make
    ``mmfas`` the default scope.

    Args:
        init_default_scope (bool): Whether to set the default scope to
            ``mmfas``, so configs can name mmfas, mmpretrain and mmengine
            components by bare names. Defaults to True.
    """
    import mmfas.datasets  # noqa: F401,F403
    import mmfas.engine  # noqa: F401,F403
    import mmfas.evaluation  # noqa: F401,F403
    import mmfas.models  # noqa: F401,F403
    import mmfas.visualization  # noqa: F401,F403

    if not init_default_scope:
        return
    current = DefaultScope.get_current_instance()
    if current is None:
        DefaultScope.get_instance('mmfas', scope_name='mmfas')
    elif current.scope_name != 'mmfas':
        warnings.warn(f'The current default scope "{current.scope_name}" is '
                      'not "mmfas"; register_all_modules switches it to '
                      '"mmfas".')
        DefaultScope.get_instance(f'mmfas-{datetime.datetime.now()}',
                                  scope_name='mmfas')
