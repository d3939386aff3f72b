/**
 * HAI Hub in JupyterLab: the "HAI tasks" sidebar, a log viewer per rank, the lease item in
 * the status bar, and commands for them (all in the command palette under "HAI").
 */
import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  ICommandPalette,
  MainAreaWidget,
  Notification
} from '@jupyterlab/apputils';
import { IStatusBar } from '@jupyterlab/statusbar';
import { Widget } from '@lumino/widgets';

import { haiIcon } from './icons';
import { kernelsPlugin } from './kernels';
// the sidebar, its model and the lease item are made in activate(): needed at once
// eslint-disable-next-line jupyter/prefer-lazy-imports
import { LeaseStatus } from './lease';
import type { LogViewer } from './logs';
// eslint-disable-next-line jupyter/prefer-lazy-imports
import { HaiModel } from './model';
// eslint-disable-next-line jupyter/prefer-lazy-imports
import { CommandIDs, confirmStop, HaiSidebar } from './sidebar';

/** The argument description of the commands that take none. */
const NO_ARGS = { args: { type: 'object', properties: {} } };

/** The path of a document widget (notebook, editor), if the widget is one. */
function documentPath(widget: Widget | null): string | null {
  const context = (widget as any)?.context;
  const path =
    context && typeof context.path === 'string'
      ? (context.path as string)
      : null;
  return path && /\.(ipynb|py|sh)$/.test(path) ? path : null;
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'hai-hub:plugin',
  description:
    'HAI tasks sidebar, chain log viewers and the dev-server lease in the status bar.',
  autoStart: true,
  optional: [ILabShell, IStatusBar, ILayoutRestorer, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    labShell: ILabShell | null,
    statusBar: IStatusBar | null,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null
  ) => {
    const model = new HaiModel();
    const sidebar = new HaiSidebar(model, app.commands);
    sidebar.title.icon = haiIcon;
    app.shell.add(sidebar, 'left', { rank: 650 });
    restorer?.add(sidebar, 'hai-tasks');

    if (labShell) {
      const follow = () =>
        sidebar.setCurrentPath(documentPath(labShell.currentWidget));
      labShell.currentChanged.connect(follow);
      follow();
    }

    const logs = new Map<number, MainAreaWidget<LogViewer>>();
    app.commands.addCommand(CommandIDs.openLogs, {
      label: 'HAI: Open Chain Log',
      describedBy: {
        args: {
          type: 'object',
          properties: {
            id: { type: 'number', description: 'The chain id' },
            rank: {
              type: 'number',
              description: 'The rank to show (default 0)'
            },
            name: {
              type: 'string',
              description: 'The title (default: chain name)'
            },
            ranks: {
              type: 'number',
              description: 'How many ranks the chain has'
            }
          },
          required: ['id']
        }
      },
      execute: async args => {
        // loaded on the first log opened; before the lookup, so that no await comes
        // between finding no viewer and adding one
        const { createLogWidget } = await import('./logs');
        const id = Number(args.id);
        const rank = Number(args.rank ?? 0);
        const chain = model.chain(id);
        let widget = logs.get(id);
        if (!widget || widget.isDisposed) {
          widget = createLogWidget({
            id,
            name: String(args.name ?? chain?.name ?? id),
            rank,
            ranks: Number(args.ranks ?? chain?.node_count ?? 1)
          });
          logs.set(id, widget);
          widget.disposed.connect(() => logs.delete(id));
          app.shell.add(widget, 'main', { mode: 'split-right' });
        } else {
          widget.content.setRank(rank);
        }
        app.shell.activateById(widget.id);
        return widget;
      }
    });
    app.commands.addCommand(CommandIDs.stop, {
      label: 'HAI: Stop Chain',
      describedBy: {
        args: {
          type: 'object',
          properties: { id: { type: 'number', description: 'The chain id' } },
          required: ['id']
        }
      },
      execute: async args => {
        const chain = model.chain(Number(args.id));
        if (chain) {
          return confirmStop(model, chain);
        }
        return false;
      }
    });
    app.commands.addCommand(CommandIDs.resubmit, {
      label: 'HAI: Resubmit Chain',
      describedBy: {
        args: {
          type: 'object',
          properties: { id: { type: 'number', description: 'The chain id' } },
          required: ['id']
        }
      },
      execute: async args => {
        try {
          const chain = await model.resubmit(Number(args.id));
          Notification.success(
            `Resubmitted as chain ${chain.id} '${chain.name}'.`,
            {
              autoClose: 5000
            }
          );
          return chain.id;
        } catch (error: any) {
          Notification.error(`Could not resubmit: ${error.message}`, {
            autoClose: 8000
          });
          return null;
        }
      }
    });
    app.commands.addCommand(CommandIDs.show, {
      label: 'HAI: Show Tasks',
      describedBy: NO_ARGS,
      execute: () => app.shell.activateById(sidebar.id)
    });
    app.commands.addCommand(CommandIDs.submitCurrent, {
      label: 'HAI: Submit the Open Notebook or Script…',
      describedBy: NO_ARGS,
      execute: () => {
        app.shell.activateById(sidebar.id);
        sidebar.openSubmitForm();
      }
    });

    if (statusBar) {
      const lease = new LeaseStatus(model);
      app.commands.addCommand(CommandIDs.renew, {
        label: 'HAI: Renew Dev-Server Lease',
        describedBy: NO_ARGS,
        isEnabled: () => !!model.lease && model.lease.profile !== 'spot',
        execute: () => lease.renew()
      });
      statusBar.registerStatusItem('hai-hub:lease', {
        item: lease,
        align: 'left',
        rank: 50,
        isActive: () => model.lease !== null,
        activeStateChanged: model.leaseChanged
      });
    }

    if (palette) {
      for (const command of [
        CommandIDs.show,
        CommandIDs.submitCurrent,
        CommandIDs.renew
      ]) {
        if (app.commands.hasCommand(command)) {
          palette.addItem({ command, category: 'HAI' });
        }
      }
    }

    void app.restored.then(() => model.start());
  }
};

export default [plugin, kernelsPlugin];
