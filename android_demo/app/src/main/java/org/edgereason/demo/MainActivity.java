package org.edgereason.demo;

import android.app.Activity;
import android.app.AlertDialog;
import android.content.Intent;
import android.os.Bundle;
import android.os.Handler;
import android.os.Looper;
import android.view.View;
import android.widget.AdapterView;
import android.widget.ArrayAdapter;
import android.widget.Button;
import android.widget.CheckBox;
import android.widget.LinearLayout;
import android.widget.ListView;
import android.widget.TextView;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/** Lists the sideloaded artifact folders and loads the one tapped; bad folders say what is wrong with them. */
public class MainActivity extends Activity {
    private final ExecutorService worker = Executors.newSingleThreadExecutor();
    private final Handler ui = new Handler(Looper.getMainLooper());
    private ArrayAdapter<Artifacts.Entry> adapter;
    private TextView status;
    private CheckBox verify;
    private boolean loading;

    @Override
    protected void onCreate(Bundle state) {
        super.onCreate(state);
        LinearLayout root = new LinearLayout(this);
        root.setOrientation(LinearLayout.VERTICAL);
        int pad = (int) (12 * getResources().getDisplayMetrics().density);
        root.setPadding(pad, pad, pad, pad);
        TextView help = new TextView(this);
        help.setText("Artifact folders in " + Artifacts.root(this)
                + "\nPush one from a computer: edgereason android push artifacts/<folder>");
        root.addView(help);
        verify = new CheckBox(this);
        verify.setText("verify sha256 before loading (reads every byte)");
        verify.setChecked(true);
        root.addView(verify);
        Button refresh = new Button(this);
        refresh.setText("Refresh");
        refresh.setOnClickListener(v -> refresh());
        root.addView(refresh);
        status = new TextView(this);
        root.addView(status);
        ListView list = new ListView(this);
        adapter = new ArrayAdapter<>(this, android.R.layout.simple_list_item_1);
        list.setAdapter(adapter);
        list.setOnItemClickListener((AdapterView<?> parent, View view, int position, long id) ->
                open(adapter.getItem(position)));
        root.addView(list, new LinearLayout.LayoutParams(LinearLayout.LayoutParams.MATCH_PARENT, 0, 1f));
        setContentView(root);
    }

    @Override
    protected void onResume() {
        super.onResume();
        refresh();
    }

    @Override
    protected void onDestroy() {
        worker.shutdownNow();
        super.onDestroy();
    }

    private void refresh() {
        Artifacts.root(this).mkdirs(); // so that adb push has a target folder
        List<Artifacts.Entry> entries = Artifacts.list(this);
        adapter.clear();
        adapter.addAll(entries);
        status.setText(entries.isEmpty() ? "No artifact folders yet." : entries.size() + " folder(s); tap one to load.");
    }

    private void open(final Artifacts.Entry entry) {
        if (entry.manifest == null) {
            error(entry.folder.getName(), entry.problem);
            return;
        }
        if (loading) {
            return;
        }
        if (Session.current != null && Session.current.manifest.folder.equals(entry.folder)) {
            startActivity(new Intent(this, ChatActivity.class));
            return;
        }
        loading = true;
        final boolean sha = verify.isChecked();
        worker.execute(() -> {
            try {
                if (Session.current != null) {
                    Session.current.close();
                    Session.current = null;
                }
                long start = System.nanoTime();
                Session s = Session.open(this, entry.manifest, sha, what -> ui.post(() -> status.setText(what)));
                final double seconds = (System.nanoTime() - start) / 1e9;
                Session.current = s;
                ui.post(() -> {
                    loading = false;
                    status.setText(String.format("loaded %s in %.1f s", entry.folder.getName(), seconds));
                    startActivity(new Intent(this, ChatActivity.class));
                });
            } catch (Session.LoadException e) {
                ui.post(() -> {
                    loading = false;
                    status.setText("load failed");
                    error("Cannot load " + entry.folder.getName(), e.getMessage());
                });
            }
        });
    }

    private void error(String title, String message) {
        new AlertDialog.Builder(this).setTitle(title).setMessage(message).setPositiveButton("OK", null).show();
    }
}
